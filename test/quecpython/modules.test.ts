// The module's link as the fota / app_fota downloads see it: `--net off` and the throttle.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchTo, MemorySink } from "../../src/transport/index.js";
import { moduleFetchOptions } from "../../src/quecpython/modules.js";
import { TransportError } from "../../src/errors.js";
import { FAST_FETCH, V2 } from "./fixtures.js";
import { TestServer } from "./server.js";

let server: TestServer;
beforeAll(async () => {
  server = await new TestServer().start();
  server.files.set("/fw.bin", V2);
});
afterAll(async () => server.stop());

describe("moduleFetchOptions", () => {
  it("with the network off, host names fail like a DNS timeout (1002) and IP addresses like a refused connection (1004)", async () => {
    const ctx = { networkUp: false, throttle: async () => {}, signal: new AbortController().signal, extras: { fetch: FAST_FETCH } };
    const errOf = (url: string) => fetchTo(url, new MemorySink(), moduleFetchOptions(ctx)).then(() => undefined, (e: unknown) => e);
    const byName = await errOf(`http://localhost:${server.port}/fw.bin`);
    expect(byName).toBeInstanceOf(TransportError);
    expect((byName as TransportError).quecCode).toBe(1002);
    const byIp = await errOf(server.url("/fw.bin"));
    expect((byIp as TransportError).quecCode).toBe(1004);
    expect(server.seen).toHaveLength(0);
  });

  it("passes every received byte through the link throttle", async () => {
    let throttled = 0;
    const ctx = { networkUp: true, throttle: async (n: number) => void (throttled += n), signal: new AbortController().signal, extras: { fetch: FAST_FETCH } };
    const sink = new MemorySink();
    const r = await fetchTo(server.url("/fw.bin"), sink, moduleFetchOptions(ctx));
    expect(r.size).toBe(V2.length);
    expect(throttled).toBe(V2.length);
    expect(Buffer.from(sink.bytes()).equals(Buffer.from(V2))).toBe(true);
  });
});
