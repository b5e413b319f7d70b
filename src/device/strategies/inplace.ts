// Strategy "inplace": one application slot, a package area and a scratch sector (devices that cannot
// hold two images). The whole package is stored and verified first (install / local upgrade); ONE
// state write arms it. At the next boot the bootloader rewrites the application slot from the
// package, sector by sector, journaling its progress in the boot state; after a power cut it resumes
// from the last journaled sector (full payloads re-decode from the start and skip what is done).
// There is no previous image to roll back to: a trial that is never confirmed keeps booting.

import { IntegrityError, StateError, isFotaError } from "../../errors.js";
import { rethrowPowerCut } from "../flash.js";
import { areaChunks, ImageWriter, sectorHolds } from "../io.js";
import { imageInfoOf, type PackageFacts } from "../package.js";
import type { BootResult, ByteSource, Device, InstallOptions } from "../device.js";
import type { BootState } from "../state.js";
import { closeInterrupted } from "./common.js";
import { inPlaceRegionMap, readRegion, sectorAt } from "./region.js";
import { checkPackageFits, PackageIntake, verifyStored } from "./stored.js";

export async function install(dev: Device, source: ByteSource, opts: InstallOptions): Promise<void> {
  if (opts.size !== undefined) checkPackageFits(dev, opts.size);
  const intake = new PackageIntake(dev, (f) => acceptStored(dev, f, f.packageSize ?? 0), dev.areas.package!.geometry.sectorSize);
  await dev.pump(source, (b) => intake.push(b), { ...opts, total: () => intake.facts?.packageSize });
  const facts = intake.finish();
  opts.onProgress?.({ phase: "verify", done: 0, total: intake.bytesReceived });
  armStored(dev, intake.bytesReceived, facts);
}

/** Persist "update started: package area being written" (after every check passed). */
export function acceptStored(dev: Device, f: PackageFacts, size: number): void {
  dev.commit((s) => {
    dev.begin(s, imageInfoOf(f));
    s.pkg = { state: "writing", size, written: 0 };
  });
}

/** Verify the stored package from flash, then arm it with one state write. */
export function armStored(dev: Device, size: number, facts: PackageFacts): void {
  verifyStored(dev, size, facts);
  dev.commit((s) => {
    dev.step(s, "stored");
    dev.step(s, "verify");
    dev.step(s, "verified");
    s.pkg = { state: "verified", size, written: size, target: imageInfoOf(facts), kind: facts.kind };
  });
}

export function boot(dev: Device): BootResult {
  dev.countBoot();
  const s = structuredClone(dev.raw);
  if (closeInterrupted(dev, s)) dev.save(s);
  if (s.update.state === "pending" && s.pkg?.state === "verified") {
    dev.step(s, "install");
    s.journal = { phase: s.pkg.kind === "delta" ? "install-delta" : "install", area: "slot0", step: 0, bytesDone: 0 };
    s.slots[0] = { state: "writing" };
    dev.save(s);
  }
  if (s.update.state === "installing" && (s.journal?.phase === "install" || s.journal?.phase === "install-delta")) {
    return runInstall(dev);
  }
  return bootApp(dev);
}

/** Boot the application slot (trial attempts count down; nothing to roll back to). */
export function bootApp(dev: Device): BootResult {
  const s = structuredClone(dev.raw);
  const slot = s.slots[0]!;
  if (slot.state === "pending" && dev.holds(dev.areas.slots[0]!, slot.image)) {
    slot.state = "trial";
    slot.attemptsLeft = Math.max(0, (slot.attemptsLeft ?? 1) - 1);
    if (s.update.state === "installing" || s.update.state === "pending") dev.step(s, "installed");
    dev.save(s);
    return dev.bootSlot(0, { installed: true });
  }
  if (slot.state === "trial" && (slot.attemptsLeft ?? 0) > 0) {
    slot.attemptsLeft = slot.attemptsLeft! - 1;
    if (s.update.state === "trial") dev.step(s, "boot-trial");
    dev.save(s);
  }
  if ((slot.state === "confirmed" || slot.state === "trial") && dev.holds(dev.areas.slots[0]!, slot.image)) return dev.bootSlot(0);
  throw new StateError("no-image", `the application slot holds no verified image (state ${slot.state})`);
}

function runInstall(dev: Device): BootResult {
  const s: BootState = dev.raw;
  const target = s.pkg!.target!;
  const j = structuredClone(s.journal!);
  const slot = dev.areas.slots[0]!;
  try {
    if (j.phase === "install-delta") {
      applyInPlace(dev);
    } else {
      installFull(dev);
    }
  } catch (e) {
    rethrowPowerCut(e);
    if (!isFotaError(e)) throw e;
    dev.commit((st) => {
      dev.step(st, "fail", e.reason);
      delete st.journal;
      delete st.pkg;
    });
    throw e;
  }
  if (!dev.holds(slot, target)) {
    // the package decoded but the slot does not read back (a flash fault). A full payload can start
    // over at the next boot; an in-place delta has consumed its base, so it is reported as failed.
    dev.commit((st) => {
      if (j.phase === "install") st.journal = { phase: j.phase, area: "slot0", step: 0, bytesDone: 0 };
      else {
        dev.step(st, "fail", "digest-mismatch");
        delete st.journal;
      }
    });
    throw new IntegrityError("digest-mismatch", "the application slot does not read back as the installed image");
  }
  dev.commit((st) => {
    st.slots[0] = { state: "pending", image: target, attemptsLeft: dev.maxAttempts };
    delete st.journal;
    delete st.pkg;
  });
  return bootApp(dev);
}

/** Full payload: decode the stored package from its start, write sectors from the journaled one on. */
function installFull(dev: Device): void {
  const s = dev.raw;
  const pkg = s.pkg!;
  const target = pkg.target!;
  const slot = dev.areas.slots[0]!;
  {
    const writer = new ImageWriter(slot, {
      skipSectors: s.journal!.step,
      onSector: (n, bytes) => {
        if (n % dev.journalEvery === 0) dev.progress(n, bytes);
        dev.bootProgress?.({ phase: "install", done: Math.min(bytes, target.size), total: target.size });
      },
    });
    const pipe = dev.openPackage({
      onManifest: (f) => {
        if (f.target.sha256 !== target.sha256) throw new IntegrityError("digest-mismatch", "the stored package no longer builds the armed image");
        if (f.kind === "delta") throw new StateError("bad-transition", "delta installs in place need the in-place applier");
        return undefined;
      },
    });
    const out = (img: Uint8Array) => writer.write(img);
    for (const c of areaChunks(dev.areas.package!, pkg.size)) pipe.push(c, out);
    pipe.finish(out);
    writer.finish();
  }
}

/**
 * In-place delta: DELTA's applier rewrites the slot sector by sector; each sector goes through a
 * scratch sector first, and the journal records which step is staged for which sector (aux). After a
 * cut with a step staged, the bootloader first copies scratch -> slot sector (the slot sector may be
 * half-erased), then lets the applier replay the done steps (it reads their new bytes back from the
 * slot) and continue. With one scratch sector each step costs two journal entries; with two (used in
 * turn) one.
 */
function applyInPlace(dev: Device): void {
  const s = dev.raw;
  const pkg = s.pkg!;
  const target = pkg.target!;
  const slot = dev.areas.slots[0]!;
  const scratch = dev.areas.scratch;
  if (!scratch) throw new StateError("bad-transition", "an in-place delta install needs a scratch sector in the layout");
  const S = slot.geometry.sectorSize;
  const wa = slot.geometry.writeAlign;
  // the slot, then the package area's sectors past the stored package (stashes of the patch)
  const map = inPlaceRegionMap(dev, pkg.size);
  const rewrite = (index: number, data: Uint8Array): void => {
    const { area, at } = sectorAt(map, index);
    area.eraseSector(at);
    area.program(at, data);
  };
  const pad = (d: Uint8Array) => {
    const n = Math.ceil(d.length / wa) * wa;
    if (n === d.length) return d;
    const p = new Uint8Array(n).fill(0xff);
    p.set(d);
    return p;
  };
  const progress = (step: number) => dev.bootProgress?.({ phase: "install", done: Math.min((step + 1) * S, target.size), total: target.size });
  // A step whose sector already holds what it writes (a sector the update leaves unchanged, bytes past
  // the data as a rewrite leaves them) is skipped: no staging, no journal entry, no erase. A small fix
  // then rewrites the sectors it changes, not the whole slot. After a cut the skipped steps past the
  // journal are decoded again and skipped again (their sectors are untouched).
  const holds = (index: number, data: Uint8Array): boolean => sectorHolds(readRegion(map, index * S, S), data);
  let doneSteps: number;
  let writeSector: (index: number, data: Uint8Array, step: number) => void;
  if (scratch.sectorCount >= 2) {
    // Two scratch sectors used in turn: one entry per step. Entry value v = s + 1 means "step s is
    // staged in scratch[s % 2] for sector aux, and every earlier step is written". scratch[s % 2] is
    // next erased by step s + 2, which only starts after step s + 1 was staged (so s was written).
    const v = s.journal!.step;
    if (v > 0) {
      const st = v - 1;
      rewrite(s.journal!.aux ?? 0, scratch.read((st % 2) * S, S));
    }
    doneSteps = v;
    /** the step the journal points at (staged last), and the last step skipped */
    let staged = v - 1;
    let skipped = { step: -1, index: 0 };
    const stage = (step: number, index: number, bytes: Uint8Array): void => {
      const at = (step % 2) * S;
      scratch.eraseSector(at);
      scratch.program(at, bytes);
      dev.progress(step + 1, step * S, index);
      staged = step;
    };
    writeSector = (index, data, step) => {
      if (holds(index, data)) {
        skipped = { step, index };
        progress(step);
        return;
      }
      // with steps skipped since the journal's step, this step's scratch may be the one the journal
      // points at (an even distance): a cut while it is erased would copy half-erased bytes over that
      // sector. The skipped step before this one is staged first, as it is (its sector's own bytes),
      // in the other scratch sector, so the journal points there
      if (staged >= 0 && step - staged >= 2 && (step - staged) % 2 === 0) {
        if (skipped.step !== step - 1) throw new StateError("bad-transition", `in-place step ${step}: step ${step - 1} was neither staged nor skipped`);
        stage(skipped.step, skipped.index, readRegion(map, skipped.index * S, S));
      }
      stage(step, index, pad(data));
      rewrite(index, pad(data));
      progress(step);
    };
  } else {
    // One scratch sector: two entries per step, 2s + 1 = staged (for sector aux), 2s + 2 = written.
    // (A skipped step writes no entry: the last one still says "written", so no copy is pending.)
    let half = s.journal!.step;
    if (half % 2 === 1) {
      const idx = s.journal!.aux ?? 0;
      rewrite(idx, scratch.read(0, S));
      half++;
      dev.progress(half, (half / 2) * S, idx);
    }
    doneSteps = half / 2;
    writeSector = (index, data, step) => {
      if (holds(index, data)) {
        progress(step);
        return;
      }
      scratch.eraseSector(0);
      scratch.program(0, pad(data));
      dev.progress(2 * step + 1, step * S, index);
      rewrite(index, pad(data));
      dev.progress(2 * step + 2, (step + 1) * S, index);
      progress(step);
    };
  }
  const region = {
    sectorSize: S,
    doneSteps,
    size: map.size,
    read: (o: number, n: number) => readRegion(map, o, n),
    writeSector,
  };
  const pipe = dev.openPackage({
    onManifest: (f) => {
      if (f.target.sha256 !== target.sha256) throw new IntegrityError("digest-mismatch", "the stored package no longer builds the armed image");
      if (!f.inPlace) throw new StateError("bad-transition", "the stored delta is not an in-place delta");
      return undefined;
    },
    inPlaceRegion: () => region,
  });
  const out = () => {};
  for (const c of areaChunks(dev.areas.package!, pkg.size)) pipe.push(c, out);
  pipe.finish(out);
}
