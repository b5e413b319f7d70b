import { describe, expect, it } from "vitest";
import { FormatError, REASONS, TransportError, type Reason, FotaError, QUEC_CODE } from "../src/errors.js";
import { reportError } from "../src/cli/errors.js";

describe("error table", () => {
  it("maps each reason to a kind, an exit code, a QuecPython code and an LwM2M result", () => {
    for (const [reason, row] of Object.entries(REASONS)) {
      expect(row.exit, reason).toBeGreaterThan(1);
      expect(row.quec, reason).toBeGreaterThanOrEqual(1001);
      expect(row.quec, reason).toBeLessThanOrEqual(1014);
      expect(row.lwm2m, reason).toBeGreaterThanOrEqual(0);
      expect(row.lwm2m, reason).toBeLessThanOrEqual(11);
    }
  });

  it("gives every QuecPython transport code a reason that produces it", () => {
    const codes = new Set<number>(Object.values(REASONS).map((r) => r.quec));
    for (const c of [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1011, 1013]) expect(codes.has(c), String(c)).toBe(true);
  });

  it("errors carry their reason's codes", () => {
    const e = new TransportError("dns-not-found", "no such host: example.invalid");
    expect(e).toBeInstanceOf(FotaError);
    expect(e.quecCode).toBe(QUEC_CODE.DOMAIN_NOT_EXIST);
    expect(e.kind).toBe("transport");
    expect(e.name).toBe("TransportError");
  });

  it("refuses a reason of another kind", () => {
    expect(() => new FormatError("dns-not-found" as "malformed", "x")).toThrow(TypeError);
  });

  it("reports a one-line message, and the stack only with --debug", () => {
    const e = new FormatError("truncated" satisfies Reason, "ends at byte 3");
    expect(reportError(e, false)).toEqual({ exitCode: 3, line: "fota: format error (truncated): ends at byte 3" });
    expect(reportError(e, true).line).toContain("at ");
    expect(reportError(new Error("boom"), false).exitCode).toBe(70);
  });
});
