// Local upgrade (QuecPython fota.write / flush / verify): the package arrives through write(bytes,
// totalSize) calls in any chunk sizes; a RAM buffer of one program page is kept; flush() writes the
// tail; verify() checks the stored package from flash and only then arms it. Nothing is pending
// unless verify() passed. The package is checked as it streams, so a package for another model or
// with an older security counter is refused before its first byte reaches flash.

import { CompatibilityError, IntegrityError, StateError, UsageError } from "../errors.js";
import type { Device } from "./device.js";
import { imageInfoOf, type PackageFacts } from "./package.js";
import * as ab from "./strategies/ab.js";
import { AreaStream } from "./strategies/common.js";
import { acceptStored, armStored } from "./strategies/inplace.js";
import { areaChunks } from "./io.js";
import { PackageIntake } from "./strategies/stored.js";

export class LocalUpgrade {
  private intake: PackageIntake | undefined;
  private total: number | undefined;
  private facts: PackageFacts | undefined;
  private flushed = false;
  private done = false;

  constructor(private readonly dev: Device) {
    if (!dev.areas.package) throw new StateError("bad-transition", `local upgrade needs a package area; this ${dev.layout.strategy} layout has none`);
  }

  /** Bytes accepted so far. */
  get received(): number {
    return this.intake?.bytesReceived ?? 0;
  }

  write(bytes: Uint8Array, totalSize: number): void {
    this.run(() => {
      if (this.done) throw new StateError("bad-transition", "this local upgrade already finished; start a new one");
      if (!Number.isInteger(totalSize) || totalSize <= 0) throw new UsageError("bad-argument", `file_size must be a positive integer, got ${totalSize}`);
      if (this.total === undefined) {
        this.dev.assertCanStart();
        const cap = this.dev.areas.package!.geometry.size;
        if (totalSize > cap) throw new CompatibilityError("too-large", `package of ${totalSize} bytes does not fit the ${cap}-byte package area`, { details: { size: totalSize, capacity: cap } });
        this.total = totalSize;
        this.intake = new PackageIntake(this.dev, (f) => acceptStored(this.dev, f, totalSize));
      } else if (totalSize !== this.total) {
        throw new UsageError("bad-argument", `file_size changed from ${this.total} to ${totalSize} during one upgrade`);
      }
      if (this.flushed) throw new StateError("bad-transition", "write after flush");
      if (this.received + bytes.length > this.total) {
        throw new IntegrityError("size-mismatch", `more bytes (${this.received + bytes.length}) than the declared file_size ${this.total}`);
      }
      this.intake!.push(bytes);
    });
  }

  /** Write what the RAM buffer holds. */
  flush(): void {
    this.run(() => {
      if (!this.intake) throw new StateError("bad-transition", "flush before any write");
      this.intake.flush();
      this.flushed = true;
    });
  }

  /** Check the stored package (signature, digests, the image it builds) and arm it. */
  verify(): void {
    this.run(() => {
      if (!this.intake || this.total === undefined) throw new StateError("bad-transition", "verify before any write");
      if (this.received !== this.total) {
        throw new IntegrityError("size-mismatch", `received ${this.received} of ${this.total} bytes`, { details: { received: this.received, total: this.total } });
      }
      this.facts = this.intake.finish();
      this.flushed = true;
      if (this.dev.layout.strategy === "ab") {
        // check the stored copy, then install it into the inactive slot and arm that
        armFromPackageAb(this.dev, this.total, this.facts);
      } else {
        armStored(this.dev, this.total, this.facts);
      }
      this.done = true;
    });
  }

  private run(f: () => void): void {
    this.dev.guardSync(f);
  }
}

export function armFromPackageAb(dev: Device, size: number, facts: PackageFacts): void {
  const s0 = dev.raw;
  const target = 1 - s0.active;
  const st = new AreaStream(dev, {
    area: dev.areas.slots[target]!,
    base: s0.slots[s0.active]?.image ? { image: s0.slots[s0.active]!.image!, area: dev.areas.slots[s0.active]! } : undefined,
    allowDelta: true,
    onAccepted: () => dev.commit((s) => void (s.slots[target] = { state: "writing" })),
  });
  for (const c of areaChunks(dev.areas.package!, size)) st.push(c);
  st.finish();
  ab.arm(dev, target, imageInfoOf(facts));
}
