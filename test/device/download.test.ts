// A resumable OTA download into the package area through TRANSPORT's fetchTo (file:// here): the
// sink and the journal live in flash, so a power cut at any flash operation resumes after the reboot
// from the last journaled chunk.
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { fetchTo } from "../../src/transport/index.js";
import { SimFlash, isPowerCut } from "../../src/device/index.js";
import { RollbackError } from "../../src/errors.js";
import { bootedSha, deltaPackage, device, fullPackage, makeRig, mutate, provision, sha } from "./helpers.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fota-dl-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const rig = makeRig("inplace", 24 * 1024);
const neu = mutate(rig.old, 31);
const pkg = fullPackage(neu, { compression: "none" });
const file = path.join(dir, "update.fota");
fs.writeFileSync(file, pkg);
const url = pathToFileURL(file).href;
const fetchOpts = { chunkBytes: 4096 };

async function download(flash: SimFlash) {
  const d = device(rig, flash);
  d.boot();
  const dl = d.download();
  const r = await fetchTo(url, dl, { ...fetchOpts, journal: dl.journal });
  dl.finish();
  return r;
}

/** Runs a download (and its finish) that the scheduled power cut stops at op `i`; then powers on again. */
async function downloadUntilCut(r: typeof rig, flash: SimFlash, u: string, opts: typeof fetchOpts, i: number): Promise<void> {
  let err: unknown;
  try {
    const dl = device(r, flash).download();
    await fetchTo(u, dl, { ...opts, journal: dl.journal });
    dl.finish();
  } catch (e) {
    err = e;
  }
  // fetchTo passes the sink's power cut through unchanged (no retry, no wrapping)
  expect(isPowerCut(err), `op ${i}: ${String(err)}`).toBe(true);
  flash.powerOn();
}

function bootsNewAfterRestart(flash: SimFlash): void {
  const d = device(rig, flash);
  const b = d.boot();
  expect(bootedSha(rig, flash, b)).toBe(sha(neu));
  d.confirm();
}

describe("resumable download into flash", () => {
  it("downloads, verifies, arms; the next boot installs", async () => {
    const flash = provision(rig);
    const r = await download(flash);
    expect(r.sha256).toBe(sha(pkg));
    expect(device(rig, flash).status().state).toBe("pending");
    bootsNewAfterRestart(flash);
  });

  it("a refused package writes nothing", async () => {
    const flash = provision(rig);
    const old = fullPackage(rig.old, { securityCounter: 0 });
    const f2 = path.join(dir, "old.fota");
    fs.writeFileSync(f2, old);
    const d = device(rig, flash);
    d.boot();
    const before = flash.counters.erases + flash.counters.programs;
    const dl = d.download();
    await expect(fetchTo(pathToFileURL(f2).href, dl, { ...fetchOpts, journal: dl.journal })).rejects.toBeInstanceOf(RollbackError);
    expect(flash.counters.erases + flash.counters.programs).toBe(before);
  });

  it("a power cut at every flash operation resumes after the reboot from the last journaled chunk", async () => {
    const base = provision(rig).snapshot();
    const probe = new SimFlash(rig.geometry, base);
    const start = probe.opCount;
    await download(probe);
    const ops = probe.opCount - start;
    let resumed = 0;
    let cuts = 0;
    for (let i = 0; i < ops; i++) {
      for (const tear of [false, true]) {
        const flash = new SimFlash(rig.geometry, base);
        device(rig, flash).boot();
        flash.schedulePowerCut({ afterOps: i, tear, seed: i + 7 });
        await downloadUntilCut(rig, flash, url, fetchOpts, i);
        cuts++;
        const d = device(rig, flash);
        const b = d.boot();
        expect([sha(rig.old), sha(neu)]).toContain(bootedSha(rig, flash, b));
        if (bootedSha(rig, flash, b) === sha(rig.old) && d.status().state !== "pending") {
          const dl = d.download();
          const r = await fetchTo(url, dl, { ...fetchOpts, journal: dl.journal });
          if (r.resumedFrom > 0) resumed++;
          expect(r.sha256 ?? sha(pkg)).toBe(sha(pkg));
          dl.finish();
        }
        bootsNewAfterRestart(flash);
      }
    }
    console.log(`[device sweep] inplace/resumable-download: ${ops} flash ops per update, ${cuts} cuts tried (plain + torn), ${resumed} resumed mid-package`);
    expect(resumed).toBeGreaterThan(0);
  });

  it("ab: a power cut while the stored delta is applied to the inactive slot redoes the apply from the package area; nothing is fetched again", async () => {
    const ab = makeRig("ab", 24 * 1024);
    const moved = mutate(ab.old, 41);
    moved.copyWithin(9000, 100, 3000);
    const dpkg = deltaPackage(ab.old, moved);
    // (a package that ends inside a program unit: its last bytes are the ones a resume used to fetch again)
    expect(dpkg.length % ab.geometry.writeAlign).not.toBe(0);
    const f = path.join(dir, "ab-delta.fota");
    fs.writeFileSync(f, dpkg);
    const u = pathToFileURL(f).href;
    const base = provision(ab).snapshot();
    const small = { ...fetchOpts, chunkBytes: 256 }; // several chunks in this package
    // a clean run: the flash operations of the download (package area + journal), then of the apply
    const probe = new SimFlash(ab.geometry, base);
    device(ab, probe).boot();
    const start = probe.opCount;
    const d0 = device(ab, probe);
    const dl0 = d0.download();
    await fetchTo(u, dl0, { ...small, journal: dl0.journal });
    const downloaded = probe.opCount;
    dl0.finish();
    const applyOps = probe.opCount - downloaded;
    expect(applyOps).toBeGreaterThan(6); // the slot's sectors, then the state writes
    let cuts = 0;
    let armedBefore = 0;
    let inApply = 0;
    // cuts in the download too (chunks completed before the manifest passed are journaled later)
    for (let i = 0; i < probe.opCount - start - 1; i++) {
      const flash = new SimFlash(ab.geometry, base);
      device(ab, flash).boot();
      flash.schedulePowerCut({ afterOps: i, tear: i % 2 === 1, seed: i });
      await downloadUntilCut(ab, flash, u, small, i);
      cuts++;
      const d2 = device(ab, flash);
      const b = d2.boot();
      const booted = bootedSha(ab, flash, b);
      expect([sha(ab.old), sha(moved)], `op ${i}`).toContain(booted);
      if (booted === sha(moved)) {
        armedBefore++; // the cut came after the arming write: the new image boots as a trial
        continue;
      }
      const dl2 = d2.download();
      const r = await fetchTo(u, dl2, { ...small, journal: dl2.journal });
      // the package was stored whole, its last bytes too (the final program unit padded): the
      // resume checks the stored chunks and fetches nothing
      if (i > downloaded - start) {
        expect(r.resumedFrom, `op ${i}: resumed from`).toBe(dpkg.length);
        expect(r.bytesFetched, `op ${i}: bytes fetched again`).toBe(0);
        inApply++;
      }
      dl2.finish();
      const d3 = device(ab, flash);
      expect(bootedSha(ab, flash, d3.boot())).toBe(sha(moved));
    }
    console.log(`[device sweep] ab/delta apply from the package area: ${applyOps} flash ops in the apply, ${cuts} cuts tried in download and apply (${armedBefore} after the arming write); the ${inApply} in the apply resumed from the package area (nothing fetched again)`);
    expect(inApply).toBeGreaterThan(applyOps / 2);
  });

  it("a download journaled whole whose last bytes do not read back (a damaged area, or an older engine's journal) fetches its last chunk again and installs", async () => {
    const ab = makeRig("ab", 24 * 1024);
    const moved = mutate(ab.old, 43);
    const dpkg = deltaPackage(ab.old, moved);
    expect(dpkg.length % ab.geometry.writeAlign).not.toBe(0);
    const f = path.join(dir, "ab-tail.fota");
    fs.writeFileSync(f, dpkg);
    const u = pathToFileURL(f).href;
    const flash = provision(ab);
    device(ab, flash).boot();
    const d0 = device(ab, flash);
    const dl0 = d0.download();
    await fetchTo(u, dl0, { ...fetchOpts, chunkBytes: 256, journal: dl0.journal });
    // the reboot before finish(): the package's last program unit erased again in the flash image
    const area = d0.areas.package!;
    const image = flash.snapshot();
    const unit = dpkg.length - (dpkg.length % ab.geometry.writeAlign);
    expect(image.subarray(area.base + unit, area.base + dpkg.length)).toEqual(new Uint8Array(dpkg.subarray(unit)));
    image.fill(0xff, area.base + unit, area.base + dpkg.length);
    const flash2 = new SimFlash(ab.geometry, image);
    const d1 = device(ab, flash2);
    d1.boot();
    const dl1 = d1.download();
    const r = await fetchTo(u, dl1, { ...fetchOpts, chunkBytes: 256, journal: dl1.journal });
    const lastChunk = Math.floor((dpkg.length - 1) / 256) * 256;
    expect(r.resumedFrom).toBe(lastChunk);
    expect(r.bytesFetched).toBe(dpkg.length - lastChunk);
    dl1.finish();
    expect(bootedSha(ab, flash2, device(ab, flash2).boot())).toBe(sha(moved));
  });
});
