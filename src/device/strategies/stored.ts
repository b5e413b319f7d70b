// Packages stored whole in the package area before anything is armed (inplace OTA, local upgrade):
// intake (check as the bytes stream, store them page by page), then a second, independent pass over
// the stored bytes from flash, so what gets armed is what is in flash.

import { createHash } from "node:crypto";
import { CompatibilityError, StateError } from "../../errors.js";
import { AreaReader, areaChunks, PackageWriter, type RandomAccessReader } from "../io.js";
import { checkPackageFacts, expectDigest, type PackageFacts } from "../package.js";
import type { Device } from "../device.js";
import { inPlaceRegionMap } from "./region.js";
import type { ImageInfo } from "../state.js";

/** The base a delta in the package applies to: the running image in slot `active`. */
function baseFor(dev: Device): { image: ImageInfo; reader: RandomAccessReader } | undefined {
  const s = dev.raw;
  const img = s.slots[s.active]?.image;
  if (!img) return undefined;
  return { image: img, reader: new AreaReader(dev.areas.slots[s.active]!, img.size) };
}

/**
 * Refuse (CompatibilityError "too-large", QuecPython 1013) a package that cannot fit the package
 * area, as soon as its size is known (declared by the transport or the caller, or read from the
 * package header) and before anything is written.
 */
export function checkPackageFits(dev: Device, size: number): void {
  const cap = dev.areas.package?.geometry.size ?? 0;
  if (size > cap) {
    throw new CompatibilityError("too-large", `package of ${size} bytes does not fit the ${cap}-byte package area`, { details: { size, capacity: cap } });
  }
}

/**
 * Streams a package into the package area. Bytes are held in RAM until the signed manifest has been
 * verified and checked, so a refused package costs zero flash operations.
 */
export class PackageIntake {
  private readonly writer: PackageWriter;
  private readonly pipe;
  private held: Uint8Array[] = [];
  private factsSeen: PackageFacts | undefined;
  private readonly hash = createHash("sha256");
  private produced = 0;
  private received = 0;

  constructor(
    private readonly dev: Device,
    onAccepted: (f: PackageFacts) => void,
    /** RAM buffer for the package area: one page (local upgrade) or one sector (OTA). */
    bufferBytes?: number,
    /** Resume: bytes 0..startAt are already stored (replay() them); writing continues there. */
    startAt = 0,
    /** Resume: startAt is the whole package, stored with its padded tail (see checkpoint): nothing is written. */
    complete = false,
  ) {
    const inplaceLayout = dev.layout.strategy === "inplace";
    const area = dev.areas.package;
    if (!area) throw new StateError("bad-transition", `this ${dev.layout.strategy} layout has no package area`);
    this.writer = new PackageWriter(area, bufferBytes ?? area.geometry.pageSize);
    if (complete) this.writer.sealAt(startAt);
    else if (startAt > 0) this.writer.restartAt(startAt);
    const base = baseFor(dev);
    this.pipe = dev.openPackage({
      onManifest: (f) => {
        checkPackageFacts(f, dev.checkContext(dev.areas.slots[0]!.geometry.size, base?.image));
        if (f.packageSize !== undefined) checkPackageFits(dev, f.packageSize);
        if (f.kind === "delta" && inplaceLayout && !f.inPlace) {
          throw new CompatibilityError("wrong-base", "a single-slot (inplace) device needs an in-place delta; build it with the in-place option or send a full package");
        }
        if (f.inPlace && !inplaceLayout) throw new CompatibilityError("wrong-base", `an in-place delta needs the inplace strategy; this device uses ${dev.layout.strategy}`);
        this.factsSeen = f;
        onAccepted(f);
        return f.kind === "delta" ? base?.reader : undefined;
      },
      // an in-place delta is rehearsed here on a copy of its region: it may need no more than the
      // slot and the package area's sectors past this package (see region.ts)
      ...(inplaceLayout ? { regionBytes: (f: PackageFacts) => inPlaceRegionMap(dev, f.packageSize).size } : {}),
    });
  }

  get facts(): PackageFacts | undefined {
    return this.factsSeen;
  }
  get bytesReceived(): number {
    return this.received;
  }

  private readonly out = (img: Uint8Array) => {
    this.hash.update(img);
    this.produced += img.length;
  };

  push(bytes: Uint8Array): void {
    this.received += bytes.length;
    this.pipe.push(bytes, this.out);
    if (!this.factsSeen) {
      this.held.push(bytes.slice());
      return;
    }
    for (const h of this.held) this.writer.write(h);
    this.held = [];
    this.writer.write(bytes);
  }

  /** Feed bytes that are already stored (a resume) through the checks, without writing them. */
  replay(bytes: Uint8Array): void {
    this.received += bytes.length;
    this.pipe.push(bytes, this.out);
  }

  flush(): void {
    for (const h of this.held) this.writer.write(h);
    this.held = [];
    this.writer.flush();
  }

  /**
   * Make the whole write units durable, keep writing afterwards (resumable downloads). Once the
   * package is complete, its last bytes too (the final unit padded): a download journaled as
   * complete then has every byte in flash, and a resume fetches nothing again.
   */
  checkpoint(): void {
    if (!this.factsSeen) return;
    for (const h of this.held) this.writer.write(h);
    this.held = [];
    if (this.factsSeen.packageSize !== undefined && this.received === this.factsSeen.packageSize) this.writer.flush();
    else this.writer.flushAligned();
  }

  /** Bytes programmed to flash. */
  get durable(): number {
    return this.writer.flushed;
  }

  /** End of package: the pipe's final checks, and the produced image's size and digest. */
  finish(): PackageFacts {
    this.pipe.finish(this.out);
    this.flush();
    const f = this.factsSeen;
    if (!f) throw new StateError("bad-transition", "package ended before its manifest");
    expectDigest("decoded image", f.target, { size: this.produced, sha256: this.hash.digest("hex") });
    return f;
  }
}

/** Second pass: run the stored package from flash through a fresh pipe and check the image it makes. */
export function verifyStored(dev: Device, size: number, expect: PackageFacts): void {
  const area = dev.areas.package!;
  const base = baseFor(dev);
  const hash = createHash("sha256");
  let produced = 0;
  const pipe = dev.openPackage({
    onManifest: (f) => {
      if (f.target.sha256 !== expect.target.sha256 || f.version !== expect.version) {
        expectDigest("stored package target", expect.target, f.target);
      }
      return f.kind === "delta" ? base?.reader : undefined;
    },
  });
  const out = (img: Uint8Array) => {
    hash.update(img);
    produced += img.length;
  };
  for (const c of areaChunks(area, size)) pipe.push(c, out);
  pipe.finish(out);
  expectDigest("image from the stored package", expect.target, { size: produced, sha256: hash.digest("hex") });
}
