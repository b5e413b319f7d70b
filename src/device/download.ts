// A resumable OTA download into the package area: a byte sink and a download journal with the shapes
// TRANSPORT's fetchTo takes (ByteSink, DownloadJournal), both kept in flash. The journal lives in the
// boot state, so a download cut by a power loss continues after the reboot from the last journaled
// chunk; the package is checked as it streams (nothing reaches flash before its manifest passed) and
// finish() verifies the stored package from flash and arms it.

import { FotaError, IntegrityError, StateError, StorageError } from "../errors.js";
import type { Device } from "./device.js";
import { areaChunks } from "./io.js";
import type { PackageFacts } from "./package.js";
import { acceptStored, armStored } from "./strategies/inplace.js";
import { armFromPackageAb } from "./local.js";
import { checkPackageFits, PackageIntake } from "./strategies/stored.js";

/** Same shape as TRANSPORT's JournalHeader. */
export interface DownloadHeader {
  url: string;
  size: number | undefined;
  validator: string | undefined;
  chunkBytes: number;
}

/** Same shape as TRANSPORT's JournalState. */
export interface DownloadState {
  header: DownloadHeader;
  digests: Uint8Array[];
}

/** What the boot state keeps of a download in progress. */
export interface DownloadRecord {
  header: DownloadHeader;
  /** Hex SHA-256 of each completed chunk, concatenated. */
  digests: string;
}

const roundDown = (n: number, m: number) => n - (n % m);

function offsetOf(r: DownloadRecord): number {
  const n = (r.digests.length / 64) * r.header.chunkBytes;
  return r.header.size === undefined ? n : Math.min(n, r.header.size);
}

export class PackageDownload {
  private intake!: PackageIntake;
  private pendingHeader: DownloadHeader | undefined;
  /**
   * Digests (hex) of chunks completed before the package's manifest passed its checks (a download
   * chunk smaller than the package's header, manifest and signatures): nothing of them is in flash
   * yet, so they are journaled with the next chunk, after the sink's flush wrote them.
   */
  private pendingDigests = "";
  private finished = false;

  constructor(private readonly dev: Device) {
    if (!dev.areas.package) throw new StateError("bad-transition", `a resumable download needs a package area; this ${dev.layout.strategy} layout has none`);
    const s = dev.raw;
    const rec = s.update.state === "downloading" ? s.download : undefined;
    if (!rec) dev.assertCanStart();
    const at = rec ? offsetOf(rec) : 0;
    // a download journaled whole has its last bytes in flash too (see PackageIntake.checkpoint):
    // nothing is fetched again. Should they not read back as the package (a damaged area, or a
    // journal from an engine that kept them in RAM), resume at the last whole program unit instead:
    // the transport then checks the stored chunks against their digests and fetches the bad ones
    if (rec && rec.header.size !== undefined && at === rec.header.size && at > 0) {
      try {
        this.open(at, true);
        return;
      } catch (e) {
        if (!(e instanceof FotaError) || e instanceof StorageError) throw e;
      }
    }
    this.open(roundDown(at, dev.flash.geometry.writeAlign));
  }

  /** Whether this download continues one a power cut interrupted. */
  get resumed(): boolean {
    return this.dev.raw.download !== undefined && this.offset() > 0;
  }

  private open(at: number, complete = false): void {
    const dev = this.dev;
    this.intake = new PackageIntake(
      dev,
      (f: PackageFacts) => {
        const s = dev.raw;
        if (s.update.state === "downloading" && s.download) return; // a resume: already recorded
        acceptStored(dev, f, f.packageSize ?? 0);
        const h = this.pendingHeader;
        if (h) dev.commit((st) => void (st.download = { header: h, digests: "" }));
        this.pendingHeader = undefined;
      },
      dev.areas.package!.geometry.sectorSize,
      at,
      complete,
    );
    if (at > 0) for (const c of areaChunks(dev.areas.package!, at)) this.intake.replay(c);
  }

  // ---- ByteSink (TRANSPORT's interface)

  offset(): number {
    return this.intake.bytesReceived;
  }

  /** The source declared the package's size: refuse one that cannot fit before any byte arrives. */
  declareSize(total: number): void {
    this.dev.guardSync(() => checkPackageFits(this.dev, total));
  }

  write(bytes: Uint8Array): void {
    this.dev.guardSync(() => this.intake.push(bytes));
  }

  truncate(to: number): void {
    if (to === this.offset()) return;
    if (to > this.offset()) throw new StateError("bad-transition", `cannot truncate a ${this.offset()}-byte download to ${to}`);
    this.open(roundDown(Math.min(to, this.intake.durable), this.dev.flash.geometry.writeAlign));
    if (this.offset() < to) {
      // bytes between the last program unit and `to` were only in RAM: the caller sends them again
    }
  }

  flush(): void {
    this.dev.guardSync(() => this.intake.checkpoint());
  }

  read(offset: number, length: number): Uint8Array {
    if (offset + length > this.intake.durable) throw new StateError("bad-transition", `read of ${length} bytes at ${offset} past the stored ${this.intake.durable}`);
    return this.dev.areas.package!.read(offset, length);
  }

  // ---- DownloadJournal (TRANSPORT's interface), kept in the boot state

  readonly journal = {
    load: (): DownloadState | undefined => {
      const r = this.dev.raw.download;
      if (!r || this.dev.raw.update.state !== "downloading") return this.pendingHeader ? { header: { ...this.pendingHeader }, digests: [] } : undefined;
      const digests: Uint8Array[] = [];
      for (let i = 0; i < r.digests.length; i += 64) digests.push(new Uint8Array(Buffer.from(r.digests.slice(i, i + 64), "hex")));
      return { header: { ...r.header }, digests };
    },
    reset: (header: DownloadHeader): void => {
      this.pendingDigests = "";
      // nothing is written before the package's manifest passed its checks: keep it in RAM until then
      if (this.dev.raw.update.state === "downloading" && this.dev.raw.download) this.dev.commit((s) => void (s.download = { header: { ...header }, digests: "" }));
      else this.pendingHeader = { ...header };
    },
    commit: (digest: Uint8Array): void => {
      const hex = Buffer.from(digest).toString("hex");
      if (this.dev.raw.update.state !== "downloading") {
        if (!this.pendingHeader) throw new StateError("bad-transition", "journal commit before the download was started");
        this.pendingDigests += hex; // the manifest is not through yet: kept in RAM (see pendingDigests)
        return;
      }
      const held = this.pendingDigests;
      this.dev.commit((s) => {
        s.download ??= { header: this.pendingHeader!, digests: "" };
        s.download.digests += held + hex;
      });
      this.pendingHeader = undefined;
      this.pendingDigests = "";
    },
    clear: (): void => {
      this.pendingHeader = undefined;
      this.pendingDigests = "";
      if (this.dev.raw.download && !this.finished) this.dev.commit((s) => void delete s.download);
    },
  };

  /** All bytes are in: verify the stored package from flash and arm it (one state write). */
  finish(): void {
    this.dev.guardSync(() => {
      const f = this.intake.finish();
      const size = this.intake.bytesReceived;
      if (f.packageSize !== undefined && f.packageSize !== size) throw new IntegrityError("size-mismatch", `downloaded ${size} bytes; the package is ${f.packageSize}`);
      if (this.dev.layout.strategy === "ab") armFromPackageAb(this.dev, size, f);
      else armStored(this.dev, size, f);
      this.finished = true;
      if (this.dev.raw.download) this.dev.commit((s) => void delete s.download);
    });
  }
}
