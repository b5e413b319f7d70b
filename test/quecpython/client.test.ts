import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROFILES } from "../../src/quecpython/profiles.js";
import { CancelledError, CompatibilityError, TransportError } from "../../src/errors.js";
import type { FotaEvent } from "../../src/quecpython/client.js";
import { TestServer } from "./server.js";
import { V2, fullPackage, makeModule, sha256Hex } from "./fixtures.js";

let server: TestServer;
beforeAll(async () => {
  server = await new TestServer().start();
  server.files.set("/ec600u.fota", fullPackage({ models: ["EC600U"] }));
  server.files.set("/bg95.fota", fullPackage({ models: ["BG95"] }));
});
afterAll(async () => server.stop());

describe("FotaClient (TypeScript face)", () => {
  it("downloads, verifies and arms a package; the next boot runs it", async () => {
    const m = makeModule(PROFILES.EC600U!);
    const events: FotaEvent[] = [];
    const r = await m.client.download(server.url("/ec600u.fota"), { onEvent: (e) => events.push(e) });
    expect(r.image.version).toBe("2.0.0");
    expect(r.image.sha256).toBe(sha256Hex(V2));
    expect(events.at(-1)).toEqual({ type: "armed", image: r.image });
    expect(events.some((e) => e.type === "progress")).toBe(true);
    expect(m.device.status().state).toBe("pending");
    const boot = m.device.boot();
    expect(boot.image.version).toBe("2.0.0");
  });

  it("rejects with typed errors and leaves nothing armed", async () => {
    const m = makeModule(PROFILES.EC600U!);
    await expect(m.client.download(server.url("/missing.fota"))).rejects.toBeInstanceOf(TransportError);
    await expect(m.client.download(server.url("/bg95.fota"))).rejects.toBeInstanceOf(CompatibilityError);
    expect(m.device.status().state).not.toBe("pending");
    expect(m.device.boot().image.version).toBe("1.0.0");
  });

  it("cancels through an AbortSignal", async () => {
    const m = makeModule(PROFILES.BG95!);
    server.faults.set("/bg95.fota", { paceBytes: 2048, paceMs: 20 });
    const ac = new AbortController();
    const p = m.client.download(server.url("/bg95.fota"), { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    server.faults.delete("/bg95.fota");
    expect(m.device.status().state).not.toBe("pending");
    expect((await m.client.download(server.url("/bg95.fota"))).image.version).toBe("2.0.0");
  });
});

describe("FotaClient.installLocal", () => {
  it("writes a package from any chunking, verifies and arms it; a foreign one is refused", async () => {
    const m = makeModule(PROFILES.EC600U!);
    const pkg = server.files.get("/ec600u.fota")!;
    const pieces = function* () {
      for (let o = 0, n = 1; o < pkg.length; o += n, n = (n * 7) % 5000 || 1) yield pkg.subarray(o, o + n);
    };
    const image = await m.client.installLocal(pieces(), pkg.length);
    expect(image.sha256).toBe(sha256Hex(V2));
    expect(m.device.boot().image.version).toBe("2.0.0");
    const other = makeModule(PROFILES.EC600U!);
    const foreign = server.files.get("/bg95.fota")!;
    await expect(other.client.installLocal([foreign], foreign.length)).rejects.toBeInstanceOf(CompatibilityError);
    expect(other.device.boot().image.version).toBe("1.0.0");
  });
});
