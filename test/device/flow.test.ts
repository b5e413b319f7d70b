// The transition table: what it allows, what it reports, and docs/update-flow.md generated from it.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import { LWM2M_RESULT, REASONS, StateError } from "../../src/errors.js";
import { TRANSITIONS, UPDATE_STATES, LWM2M_STATE_OF, nextUpdate, updateFlowMarkdown, type UpdateState } from "../../src/device/index.js";

const DOC = new URL("../../docs/update-flow.md", import.meta.url);

describe("update flow table", () => {
  it("docs/update-flow.md is the current output of updateFlowMarkdown() (FOTA_UPDATE_DOCS=1 rewrites it)", () => {
    const md = updateFlowMarkdown();
    if (process.env.FOTA_UPDATE_DOCS === "1") fs.writeFileSync(DOC, md);
    expect(fs.readFileSync(DOC, "utf8")).toBe(md);
  });

  it("walks the happy path with the LwM2M states and results", () => {
    let s = { state: "idle" as UpdateState, result: 0 };
    const seen: string[] = [];
    for (const e of ["start", "stored", "verify", "verified", "install", "installed", "confirm"] as const) {
      s = nextUpdate(s, e);
      seen.push(`${s.state}:${LWM2M_STATE_OF[s.state]}:${s.result}`);
    }
    expect(seen).toEqual(["downloading:1:0", "downloaded:1:0", "verifying:1:0", "pending:2:0", "installing:3:0", "trial:3:0", "confirmed:0:1"]);
  });

  it("refuses steps the table does not list", () => {
    expect(() => nextUpdate({ state: "idle", result: 0 }, "confirm")).toThrow(StateError);
    expect(() => nextUpdate({ state: "trial", result: 0 }, "start")).toThrow(/not allowed in state "trial"/);
    expect(() => nextUpdate({ state: "installing", result: 0 }, "cancel")).toThrow(StateError);
  });

  it("a failure reports its reason's LwM2M result; rollback and cancel have fixed results", () => {
    expect(nextUpdate({ state: "downloading", result: 0 }, "fail", "digest-mismatch")).toEqual({ state: "failed", result: LWM2M_RESULT.INTEGRITY_FAILURE });
    expect(nextUpdate({ state: "downloading", result: 0 }, "fail", "no-space").result).toBe(REASONS["no-space"].lwm2m);
    expect(nextUpdate({ state: "downloading", result: 0 }, "fail", "connection-lost").result).toBe(LWM2M_RESULT.CONNECTION_LOST);
    expect(nextUpdate({ state: "trial", result: 0 }, "rollback")).toEqual({ state: "rolled-back", result: LWM2M_RESULT.UPDATE_FAILED });
    expect(nextUpdate({ state: "pending", result: 0 }, "cancel")).toEqual({ state: "idle", result: LWM2M_RESULT.CANCELLED });
  });

  it("every state is reachable from idle and every non-final state can end", () => {
    const reach = new Set<UpdateState>(["idle"]);
    for (let k = 0; k < UPDATE_STATES.length; k++) for (const r of TRANSITIONS) if (r.from.some((f) => reach.has(f))) reach.add(r.to);
    expect([...reach].sort()).toEqual([...UPDATE_STATES].sort());
    // no (state, event) pair is listed twice
    const pairs = TRANSITIONS.flatMap((r) => r.from.map((f) => `${f}/${r.event}`));
    expect(new Set(pairs).size).toBe(pairs.length);
  });
});
