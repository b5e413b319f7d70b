// Every limit and tunable of fota, in one object. Each part reads its own section; callers may pass
// a partial override (see `withConfig`). Sections belong to the folders of the same name.

export const DEFAULT_CONFIG = {
  format: {
    /** Largest manifest (encoded bytes) a reader accepts. */
    maxManifestBytes: 64 * 1024,
    /** Largest payload a reader accepts. */
    maxPayloadBytes: 256 * 1024 * 1024,
    /** Largest target image a manifest may declare. */
    maxImageBytes: 256 * 1024 * 1024,
    /** Most signatures one package may carry. */
    maxSignatures: 8,
    /** Most payload chunks (and chunk digests) a manifest may list. */
    maxChunks: 65536,
    /** Payload chunk size the writer uses (each chunk has its own digest). */
    chunkBytes: 64 * 1024,
    /** Most model names in a manifest. */
    maxModels: 64,
    /** Longest string field (version, model, key id). */
    maxStringBytes: 256,
  },
  delta: {},
  device: {},
  transport: {},
  server: {},
  emulator: {},
};

export type FotaConfig = typeof DEFAULT_CONFIG;

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** The defaults with some values overridden, e.g. `withConfig({ format: { chunkBytes: 4096 } })`. */
export function withConfig(over: DeepPartial<FotaConfig> = {}): FotaConfig {
  const out = structuredClone(DEFAULT_CONFIG) as FotaConfig;
  for (const [section, values] of Object.entries(over)) {
    Object.assign((out as Record<string, object>)[section], values);
  }
  return out;
}
