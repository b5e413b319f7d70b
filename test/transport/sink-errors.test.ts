// Errors raised by the sink (or the journal) are not network failures: fetchTo must pass them through
// unchanged and must not retry. A simulated power cut (PowerCut, deliberately not a FotaError) must
// reach the caller as the very same object, so device code and tests can tell a cut from a failure.
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { fetchTo, MemorySink } from "../../src/transport/index.js";
import type { FetchEvent } from "../../src/transport/index.js";
import { PowerCut } from "../../src/device/flash.js";
import { StorageError } from "../../src/errors.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fota-sinkerr-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, "pkg.bin");
fs.writeFileSync(file, randomBytes(300 * 1024));
const url = pathToFileURL(file).href;

/** A memory sink whose `failOn`-th call of `method` throws `error`. */
class FailingSink extends MemorySink {
  calls = { write: 0, flush: 0 };
  constructor(
    private readonly method: "write" | "flush",
    private readonly failOn: number,
    private readonly error: unknown,
  ) {
    super();
  }
  override write(bytes: Uint8Array): void {
    if (this.method === "write" && ++this.calls.write === this.failOn) throw this.error;
    super.write(bytes);
  }
  flush(): void {
    if (this.method === "flush" && ++this.calls.flush === this.failOn) throw this.error;
  }
}

async function run(sink: FailingSink, extra: Parameters<typeof fetchTo>[2] = {}) {
  const events: FetchEvent[] = [];
  let err: unknown;
  try {
    await fetchTo(url, sink, { chunkBytes: 16 * 1024, retries: 5, backoffBaseMs: 1, backoffMaxMs: 2, onEvent: (e) => events.push(e), ...extra });
  } catch (e) {
    err = e;
  }
  return { err, events };
}

describe("fetchTo and errors from the sink", () => {
  it.each([
    ["write", 3],
    ["flush", 2],
  ] as const)("a PowerCut from sink.%s is rethrown unchanged, without a retry", async (method, n) => {
    const cut = new PowerCut(42, false);
    const { err, events } = await run(new FailingSink(method, n, cut));
    expect(err).toBe(cut);
    expect(events.filter((e) => e.type === "retry")).toHaveLength(0);
    expect(events.filter((e) => e.type === "open")).toHaveLength(1);
  });

  it("a PowerCut from the journal is rethrown unchanged", async () => {
    const cut = new PowerCut(7, true);
    const journal = {
      load: () => undefined,
      reset: () => undefined,
      commit: () => {
        throw cut;
      },
      clear: () => undefined,
    };
    const { err, events } = await run(new FailingSink("write", -1, undefined), { journal });
    expect(err).toBe(cut);
    expect(events.filter((e) => e.type === "retry")).toHaveLength(0);
  });

  it("a StorageError from the sink is rethrown, not retried as a network failure", async () => {
    const full = new StorageError("no-space", "package area full");
    const { err, events } = await run(new FailingSink("write", 2, full));
    expect(err).toBe(full);
    expect(events.filter((e) => e.type === "retry")).toHaveLength(0);
  });

  it("any other error from the sink (a bug, not the network) is rethrown unchanged", async () => {
    const bug = new TypeError("sink bug");
    const { err, events } = await run(new FailingSink("write", 2, bug));
    expect(err).toBe(bug);
    expect(events.filter((e) => e.type === "retry")).toHaveLength(0);
  });

  it("a clean download through the same sink still works", async () => {
    const sink = new FailingSink("write", -1, undefined);
    const { err } = await run(sink);
    expect(err).toBeUndefined();
    expect(Buffer.from(sink.bytes()).equals(fs.readFileSync(file))).toBe(true);
  });
});
