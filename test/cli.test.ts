import { describe, expect, it } from "vitest";
import { runFota } from "./helpers/cli.js";

describe("fota CLI", () => {
  it("explains itself with --help", async () => {
    const r = await runFota(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: fota");
  });
  it("fails with exit 2 on an unknown command", async () => {
    const r = await runFota(["no-such-command"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command");
  });
});
