// Every limit and tunable of fota, in one object. Each part reads its own section; callers may pass
// a partial override (see `withConfig`). Sections belong to the folders of the same name.

export const DEFAULT_CONFIG = {
  format: {
    /** Largest manifest (encoded bytes) a reader accepts (4096 chunk digests take 128 KiB). */
    maxManifestBytes: 160 * 1024,
    /** Largest signature block (encoded bytes) a reader accepts. */
    maxSignatureBlockBytes: 4096,
    /** Most TLV fields in one manifest or descriptor (models, key ids and unknown fields included). */
    maxManifestFields: 512,
    /** Largest payload a reader accepts. */
    maxPayloadBytes: 256 * 1024 * 1024,
    /** Largest target image a manifest may declare. */
    maxImageBytes: 256 * 1024 * 1024,
    /** Most signatures one package may carry. */
    maxSignatures: 8,
    /** Most payload chunks (and chunk digests) a manifest may list. */
    maxChunks: 4096,
    /** Payload chunk size the writer uses (each chunk has its own digest); raised when a payload would need more than maxChunks. */
    chunkBytes: 64 * 1024,
    /** Largest payload chunk a reader accepts (it buffers one chunk until its digest matched). */
    maxChunkBytes: 1024 * 1024,
    /** Image bytes per independently compressed block the writer uses (brotli/deflate payloads). */
    compressBlockBytes: 64 * 1024,
    /** Largest compressed block a full-image decoder accepts (its memory bound: about twice this). */
    maxCompressBlockBytes: 1024 * 1024,
    /** Brotli quality the writer uses (0..11). */
    brotliQuality: 11,
    /** Most model names in a manifest. */
    maxModels: 64,
    /** Longest string field (version, model, encoding names). */
    maxStringBytes: 256,
  },
  delta: {
    /** Output buffer of the streaming delta decoder (bytes). */
    outBufferBytes: 16 * 1024,
    /** Window of the base image the decoder reads (and filters) at once (bytes). */
    baseWindowBytes: 16 * 1024,
    /** Working-memory bound of the delta decoder (buffers + probability model + 16 KiB history window + address map); a decoder needing more refuses to start. */
    maxWorkingMemoryBytes: 128 * 1024,
    /** Filters `--filter auto` tries (the smallest patch wins). */
    autoFilters: ["none", "thumb", "arm", "arm64"] as string[],
    /** Sector size of in-place patches (bytes, power of two). */
    inPlaceSectorBytes: 4096,
    /** Most sectors an in-place step range holds (decoded together, then written one by one): fewer when the memory bound needs it. */
    inPlaceRangeSectors: 8,
    /** Most spare sectors past the images (a slot larger than them) an in-place patch keeps stashes in. */
    inPlaceMaxSpareSectors: 16,
    /**
     * Sectors past its slot an inplace device lends an in-place patch for stashes: fota's inplace
     * devices lend the package area's sectors past the stored package (src/device/strategies/region.ts).
     * The patch uses them only when that makes it smaller; 0 for an applier that rewrites its slot only.
     */
    inPlaceBorrowSectors: 1,
    /** Largest image the delta engine accepts (bytes). */
    maxImageBytes: 256 * 1024 * 1024,
  },
  device: {
    /** Trial boots a new image gets before it is rolled back (1: the first unconfirmed reset rolls back). */
    maxAttempts: 1,
    /** Full-image inplace installs journal their progress every N sectors (a resume redoes at most N). */
    journalEvery: 4,
    /** Default flash geometry: erase sector, program page, smallest program unit (1 = any byte). */
    sectorBytes: 4096,
    pageBytes: 256,
    writeAlign: 1,
  },
  transport: {
    /** Bytes per journal chunk; each completed chunk's SHA-256 is journaled (at most one is re-fetched per cut). */
    chunkBytes: 64 * 1024,
    /** TCP/TLS connect (and FTP login) timeout. */
    connectTimeoutMs: 10_000,
    /** Request sent -> response headers (HTTP), or to the first data (FTP). */
    headersTimeoutMs: 20_000,
    /** Longest silence while reading a body before the attempt fails (stalled link). */
    readTimeoutMs: 20_000,
    /** Consecutive failed attempts without new bytes before giving up. */
    retries: 5,
    backoffBaseMs: 250,
    backoffMaxMs: 8_000,
    maxRedirects: 5,
    /** Hard cap on any download, whatever the server declares. */
    maxDownloadBytes: 512 * 1024 * 1024,
    /** Clean restarts from byte 0 (file changed / ranges ignored) before giving up. */
    maxRestarts: 3,
  },
  server: {
    /** Passive-mode data ports of the FTP server (bound on the serve host). */
    ftpPasvMin: 30_400,
    ftpPasvMax: 30_599,
    /** Close idle keep-alive HTTP connections after this. */
    keepAliveTimeoutMs: 10_000,
    /** Listen backlog for many concurrent devices. */
    backlog: 4096,
    /** Memory cache of hot package files (HTTP): files up to this size are answered from memory. */
    hotCacheFileBytes: 8 * 1024 * 1024,
    /** Memory cache of hot package files: total bytes held (`fota serve --cache-mib`; 0 = off). */
    hotCacheTotalBytes: 64 * 1024 * 1024,
    /** A cached file's size and mtime are checked again after this (changed files are reloaded). */
    hotCacheRecheckMs: 1000,
  },
  emulator: {
    /** MicroPython heap of a virtual module's interpreter. */
    heapBytes: 8 * 1024 * 1024,
    /** MicroPython's Python stack (words); nested cooperative threads and callbacks use it. */
    pystackWords: 16384,
    /** Exit code of `fota emulate` / `fota device boot` when the simulated power was cut. */
    powerCutExitCode: 11,
    /** Exit code of `fota emulate` when --timeout powered the module down. */
    timeoutExitCode: 124,
  },
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
