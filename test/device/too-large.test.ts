// A package bigger than the package area is refused before the first flash write (CompatibilityError
// "too-large", QuecPython 1013), on every path that stores a whole package: install() from a stream,
// a resumable download through TRANSPORT's fetchTo (with and without a declared length), and the
// same install() when the caller knows the size up front. Zero flash erases and programs each time.
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { fetchTo, type Fetcher } from "../../src/transport/index.js";
import { SimFlash, planLayout } from "../../src/device/index.js";
import { CompatibilityError, LWM2M_RESULT } from "../../src/errors.js";
import { chunks, device, fullPackage, provision, SECTOR, type Rig } from "./helpers.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fota-toolarge-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// One application slot of 40 KiB, but a package area of only 32 KiB: a 36 KiB image fits the slot,
// its (uncompressed) package does not fit the package area.
const IMAGE = 36 * 1024;
const { layout, flashSize } = planLayout("inplace", { sectorSize: SECTOR, slotSize: 40 * 1024, packageSize: 32 * 1024 });
const rig: Rig = { strategy: "inplace", layout, geometry: { size: flashSize, sectorSize: SECTOR, pageSize: 256, writeAlign: 4 }, old: new Uint8Array(randomBytes(IMAGE)) };
const pkg = fullPackage(new Uint8Array(randomBytes(IMAGE)), { compression: "none" });
const file = path.join(dir, "big.fota");
fs.writeFileSync(file, pkg);

function fresh() {
  const flash = provision(rig);
  const d = device(rig, flash);
  d.boot();
  flash.resetCounters();
  return { flash, d };
}

function expectRefusedUntouched(err: unknown, flash: SimFlash, d: ReturnType<typeof device>) {
  expect(err).toBeInstanceOf(CompatibilityError);
  expect((err as CompatibilityError).reason).toBe("too-large");
  expect((err as CompatibilityError).quecCode).toBe(1013);
  expect((err as Error).message).toMatch(/package area/);
  expect(flash.counters.erases).toBe(0);
  expect(flash.counters.programs).toBe(0);
  expect(d.status()).toMatchObject({ state: "idle", reason: "too-large", result: LWM2M_RESULT.NOT_ENOUGH_FLASH });
}

/** file:// without a declared length (the manifest's package size is all the device learns). */
const undeclared: Fetcher = {
  schemes: ["nolength"],
  async open(req) {
    const bytes = fs.readFileSync(decodeURIComponent(req.url.pathname));
    return {
      start: 0,
      total: undefined,
      validator: undefined,
      body: chunks(bytes.subarray(req.offset), 1024) as unknown as AsyncIterable<Uint8Array>,
      close: () => undefined,
    };
  },
};

describe("inplace: a package bigger than the package area", () => {
  it("test setup: the image fits the slot, the package does not fit the package area", () => {
    expect(IMAGE).toBeLessThanOrEqual(layout.slots[0]!.size);
    expect(pkg.length).toBeGreaterThan(layout.package!.size);
  });

  it("install() from a stream is refused at the manifest", async () => {
    const { flash, d } = fresh();
    const err = await d.install(chunks(pkg, 1000)).catch((e: unknown) => e);
    expectRefusedUntouched(err, flash, d);
  });

  it("install() with the size known up front is refused before reading anything", async () => {
    const { flash, d } = fresh();
    let pulled = 0;
    function* counted() {
      for (const c of chunks(pkg, 1000)) {
        pulled++;
        yield c;
      }
    }
    const err = await d.install(counted(), { size: pkg.length }).catch((e: unknown) => e);
    expectRefusedUntouched(err, flash, d);
    expect(pulled).toBe(0);
  });

  it("a download whose server declares the length is refused before any byte is stored", async () => {
    const { flash, d } = fresh();
    const dl = d.download();
    let written = 0;
    const err = await fetchTo(pathToFileURL(file).href, dl, { chunkBytes: 4096, journal: dl.journal, onProgress: (p) => (written = p.received) }).catch((e: unknown) => e);
    expectRefusedUntouched(err, flash, d);
    expect(written).toBe(0);
  });

  it("a download without a declared length is refused at the manifest", async () => {
    const { flash, d } = fresh();
    const dl = d.download();
    const err = await fetchTo(`nolength://local${pathToFileURL(file).pathname}`, dl, { chunkBytes: 4096, journal: dl.journal, fetchers: [undeclared] }).catch((e: unknown) => e);
    expectRefusedUntouched(err, flash, d);
  });
});
