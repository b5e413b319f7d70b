// Pieces the strategies share: stream a package into an area, verify what landed, trial handling.

import { CompatibilityError, StateError } from "../../errors.js";
import type { Flash } from "../flash.js";
import { AreaReader, hashArea, ImageWriter } from "../io.js";
import { checkPackageFacts, expectDigest, imageInfoOf, type PackageFacts } from "../package.js";
import { dropUpdateWork, type BootState, type ImageInfo } from "../state.js";
import type { ByteSource, Device, InstallOptions } from "../device.js";

export interface StreamTarget {
  area: Flash;
  /** The image the delta applies to, and where it is read from. */
  base?: { image: ImageInfo; area: Flash };
  /** Delta payloads allowed (they read `base`). */
  allowDelta: boolean;
  /** Persist "update started" (first flash write of the update). Runs after every check passed. */
  onAccepted(facts: PackageFacts): void;
  phase?: "download" | "stage-two";
}

/**
 * Package bytes through the pipe (signature, then checks, then verified payload) into `area`, sector
 * by sector; finish() reads the image back and compares size and SHA-256. Synchronous.
 */
export class AreaStream {
  facts: PackageFacts | undefined;
  private readonly writer: ImageWriter;
  private readonly pipe;
  private readonly out = (img: Uint8Array) => this.writer.write(img);

  constructor(
    dev: Device,
    private readonly t: StreamTarget,
  ) {
    this.writer = new ImageWriter(t.area);
    this.pipe = dev.openPackage({
      onManifest: (f) => {
        checkPackageFacts(f, dev.checkContext(t.area.geometry.size, t.base?.image));
        if (f.kind === "delta" && !t.allowDelta) throw new CompatibilityError("wrong-base", "this step takes full images only (its base is being overwritten)");
        if (f.inPlace) throw new CompatibilityError("wrong-base", "an in-place delta needs the inplace strategy");
        this.facts = f;
        t.onAccepted(f);
        return f.kind === "delta" && t.base ? new AreaReader(t.base.area, t.base.image.size) : undefined;
      },
    });
  }

  push(b: Uint8Array): void {
    this.pipe.push(b, this.out);
  }

  finish(onProgress?: InstallOptions["onProgress"]): PackageFacts {
    this.pipe.finish(this.out);
    const facts = this.facts;
    if (!facts) throw new StateError("bad-transition", "package ended before its manifest");
    const n = this.writer.finish();
    onProgress?.({ phase: "verify", done: 0, total: facts.target.size });
    expectDigest("written image", facts.target, { size: n, sha256: n === facts.target.size ? hashArea(this.t.area, n) : "" });
    return facts;
  }
}

export async function streamToArea(dev: Device, source: ByteSource, opts: Omit<InstallOptions, "stageTwo">, t: StreamTarget): Promise<PackageFacts> {
  const st = new AreaStream(dev, t);
  await dev.pump(source, (b) => st.push(b), { ...opts, phase: t.phase ?? "download", total: () => st.facts?.packageSize });
  return st.finish(opts.onProgress);
}

export { imageInfoOf };

/** Close a download that a power cut interrupted (stale downloading/verifying state). */
export function closeInterrupted(dev: Device, s: BootState): boolean {
  if (!["downloading", "downloaded", "verifying"].includes(s.update.state)) return false;
  // a journaled download resumes after the reboot (Device.download())
  if (s.update.state === "downloading" && s.download) return false;
  dev.step(s, "interrupted");
  dropUpdateWork(s);
  return true;
}
