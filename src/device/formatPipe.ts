// The real package pipe: FORMAT's streaming PackageReader (signatures first, payload chunks handed
// out only when their signed digest matches) feeding the payload decoder (full images: FORMAT's
// block decoders; deltas: DELTA's decoder through its dispatcher).

import { type FotaConfig } from "../config.js";
import { toHex } from "../format/bytes.js";
import type { Manifest } from "../format/manifest.js";
import type { PayloadDecoder, RandomAccessReader } from "../format/payload.js";
import { createInPlaceApplier, openPayloadDecoder } from "../delta/index.js";
import { PackageReader } from "../format/reader.js";
import type { PublicKeyInput } from "../format/keys.js";
import type { PackageFacts, PackageOpener } from "./package.js";

/** Opens the payload decoder for a verified manifest (DELTA's openPayloadDecoder has this shape). */
export type DecoderFactory = (manifest: Manifest, base?: RandomAccessReader, opts?: { regionBytes?: number }) => PayloadDecoder;

export interface FormatPipeOptions {
  trustedKeys: readonly PublicKeyInput[];
  config?: FotaConfig;
  /** Decoder dispatcher; default: DELTA's openPayloadDecoder (full and delta payloads). */
  openDecoder?: DecoderFactory;
}

/** Manifest -> the facts the device checks. */
export function factsOf(m: Manifest, packageSize?: number): PackageFacts {
  const f: PackageFacts = {
    kind: m.kind,
    models: [...m.models],
    version: m.version,
    securityCounter: m.securityCounter,
    target: { size: m.target.size, sha256: toHex(m.target.sha256) },
    manifest: m,
  };
  if (m.base) f.base = { size: m.base.size, sha256: toHex(m.base.sha256) };
  if (m.expires !== undefined) f.expiresAt = m.expires * 1000;
  if (packageSize !== undefined) f.packageSize = packageSize;
  if (m.encoding.delta !== undefined && /inplace|in-place/.test(m.encoding.delta)) f.inPlace = true;
  return f;
}

const dispatch: DecoderFactory = (m, base, opts) => openPayloadDecoder(m, base, opts?.regionBytes !== undefined ? { regionBytes: opts.regionBytes } : {});

export function formatPackageOpener(opts: FormatPipeOptions): PackageOpener {
  const openDecoder = opts.openDecoder ?? dispatch;
  return (hooks) => {
    let decoder: PayloadDecoder | undefined;
    const reader = new PackageReader({
      trustedKeys: opts.trustedKeys,
      ...(opts.config ? { config: opts.config } : {}),
      onManifest: (m, info) => {
        const facts = factsOf(m, info.layout.totalBytes);
        const base = hooks.onManifest(facts);
        if (facts.inPlace && hooks.inPlaceRegion) {
          const region = hooks.inPlaceRegion(facts);
          decoder = createInPlaceApplier(m.encoding, region, {
            targetSha256: facts.target.sha256,
            targetSize: facts.target.size,
            ...(facts.base ? { baseSha256: facts.base.sha256 } : {}),
            ...(opts.config ? { config: opts.config } : {}),
          });
        } else {
          const rb = typeof hooks.regionBytes === "function" ? hooks.regionBytes(facts) : hooks.regionBytes;
          decoder = openDecoder(m, base, rb !== undefined ? { regionBytes: rb } : {});
        }
      },
    });
    return {
      push(bytes, out) {
        reader.push(bytes, (chunk) => decoder!.push(chunk.bytes, out));
      },
      finish(out) {
        reader.finish();
        decoder?.finish(out);
      },
    };
  };
}
