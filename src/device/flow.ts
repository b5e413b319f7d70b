// The update state machine of a device, as ONE explicit transition table. Every change of the
// persisted update state goes through `nextUpdate()`, which looks the step up here and refuses any
// step the table does not list. Each state maps to an LwM2M Object 5 State (resource 5/0/3), and each
// row says which Update Result (5/0/5) it reports; failures report the LwM2M code of their error
// reason (src/errors.ts REASONS).

import { LWM2M_RESULT, REASONS, StateError, type Reason } from "../errors.js";

export const UPDATE_STATES = [
  "idle",
  "downloading",
  "downloaded",
  "verifying",
  "pending",
  "installing",
  "trial",
  "confirmed",
  "failed",
  "rolled-back",
] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

export type UpdateEvent =
  | "start"
  | "stored"
  | "verify"
  | "verified"
  | "install"
  | "installed"
  | "boot-trial"
  | "confirm"
  | "rollback"
  | "fail"
  | "cancel"
  | "interrupted"
  | "resume"
  | "clear";

/** LwM2M Object 5 State values (resource /5/0/3). */
export const LWM2M_STATE = { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2, UPDATING: 3 } as const;

/** What each update state reports as LwM2M State. */
export const LWM2M_STATE_OF: Record<UpdateState, number> = {
  idle: LWM2M_STATE.IDLE,
  downloading: LWM2M_STATE.DOWNLOADING,
  downloaded: LWM2M_STATE.DOWNLOADING,
  verifying: LWM2M_STATE.DOWNLOADING,
  pending: LWM2M_STATE.DOWNLOADED,
  installing: LWM2M_STATE.UPDATING,
  trial: LWM2M_STATE.UPDATING,
  confirmed: LWM2M_STATE.IDLE,
  failed: LWM2M_STATE.IDLE,
  "rolled-back": LWM2M_STATE.IDLE,
};

const STATE_MEANING: Record<UpdateState, string> = {
  idle: "no update in progress",
  downloading: "package bytes arriving (stored or written to a slot)",
  downloaded: "all package bytes stored, not yet verified",
  verifying: "checking the stored package or the written image",
  pending: "verified; installs or boots at the next restart",
  installing: "bootloader writing the new image (resumes after a power cut)",
  trial: "new image booted, not yet confirmed",
  confirmed: "new image confirmed; security counter raised",
  failed: "the update stopped; the previous image runs",
  "rolled-back": "the new image was not confirmed; the previous image runs again",
};

/** Update Result of a row: a fixed LwM2M code, the failing reason's code, or unchanged. */
export type RowResult = number | "reason" | "keep";

export interface TransitionRow {
  from: readonly UpdateState[];
  event: UpdateEvent;
  to: UpdateState;
  result: RowResult;
  /** When the step happens. */
  when: string;
}

const R = LWM2M_RESULT;
const ANY_END: UpdateState[] = ["idle", "confirmed", "failed", "rolled-back"];

/** THE transition table. */
export const TRANSITIONS: readonly TransitionRow[] = [
  { from: ANY_END, event: "start", to: "downloading", result: R.INITIAL, when: "a package passed its signature, model, security-counter and base checks; first flash write follows" },
  { from: ["downloading"], event: "stored", to: "downloaded", result: "keep", when: "the last package byte is durable (flush)" },
  { from: ["downloaded"], event: "verify", to: "verifying", result: "keep", when: "verification of the stored package starts" },
  { from: ["downloading"], event: "verify", to: "verifying", result: "keep", when: "a streamed image is complete; read-back verification starts" },
  { from: ["verifying"], event: "verified", to: "pending", result: "keep", when: "package and image digests match; one power-safe marker arms the update" },
  { from: ["pending"], event: "install", to: "installing", result: "keep", when: "the bootloader starts writing the application slot (inplace, two-stage)" },
  { from: ["installing"], event: "resume", to: "installing", result: "keep", when: "boot after a power cut during the install: continue from the journal" },
  { from: ["pending", "installing"], event: "installed", to: "trial", result: "keep", when: "the new image verified (size + SHA-256) and boots as a trial" },
  { from: ["trial"], event: "boot-trial", to: "trial", result: "keep", when: "a reset before confirmation with trial attempts left" },
  { from: ["trial"], event: "confirm", to: "confirmed", result: R.SUCCESS, when: "the running firmware confirms the new image" },
  { from: ["trial"], event: "rollback", to: "rolled-back", result: R.UPDATE_FAILED, when: "unconfirmed image reset with no attempts left, or failed verification: previous image boots" },
  { from: ["downloading", "downloaded", "verifying"], event: "fail", to: "failed", result: "reason", when: "a check, digest, transport or flash error (result: the reason's LwM2M code)" },
  { from: ["pending", "installing", "trial"], event: "fail", to: "failed", result: "reason", when: "the install or the new image failed and no previous image is kept" },
  { from: ["downloading", "downloaded", "verifying", "pending"], event: "cancel", to: "idle", result: R.CANCELLED, when: "cancelled by the caller; nothing armed" },
  { from: ["downloading", "downloaded"], event: "interrupted", to: "failed", result: R.CONNECTION_LOST, when: "power lost while downloading: the download must be started again" },
  { from: ["verifying"], event: "interrupted", to: "failed", result: R.UPDATE_FAILED, when: "power lost while verifying: nothing was armed" },
  { from: ["confirmed", "failed", "rolled-back"], event: "clear", to: "idle", result: R.INITIAL, when: "the result was read/acknowledged (e.g. LwM2M Package URI written empty)" },
];

export interface UpdateStep {
  state: UpdateState;
  result: number;
}

/** Find the row for (state, event), or undefined when the table does not allow it. */
export function findTransition(state: UpdateState, event: UpdateEvent): TransitionRow | undefined {
  return TRANSITIONS.find((r) => r.event === event && r.from.includes(state));
}

/** Apply one event. `reason` gives the result of "fail" rows. Throws StateError when not allowed. */
export function nextUpdate(cur: UpdateStep, event: UpdateEvent, reason?: Reason): UpdateStep {
  const row = findTransition(cur.state, event);
  if (!row) {
    throw new StateError("bad-transition", `update step "${event}" is not allowed in state "${cur.state}"`, { details: { state: cur.state, event } });
  }
  let result: number;
  if (row.result === "keep") result = cur.result;
  else if (row.result === "reason") result = reason ? REASONS[reason].lwm2m : R.UPDATE_FAILED;
  else result = row.result;
  return { state: row.to, result };
}

const RESULT_NAME: Record<number, string> = Object.fromEntries(Object.entries(LWM2M_RESULT).map(([k, v]) => [v, k]));
const LWM2M_STATE_NAME: Record<number, string> = Object.fromEntries(Object.entries(LWM2M_STATE).map(([k, v]) => [v, k]));

/** The table (and the state mapping and failure results) as markdown, for docs/update-flow.md. */
export function updateFlowMarkdown(): string {
  const lines: string[] = [];
  lines.push("# Update flow (device state machine)");
  lines.push("");
  lines.push("Generated from `src/device/flow.ts` by `updateFlowMarkdown()`; a test fails when this file is stale.");
  lines.push("Every persisted change of the update state is one row of this table; any other step is refused");
  lines.push('with `StateError("bad-transition")`.');
  lines.push("");
  lines.push("## States");
  lines.push("");
  lines.push("| state | LwM2M State (5/0/3) | meaning |");
  lines.push("|---|---|---|");
  for (const s of UPDATE_STATES) lines.push(`| \`${s}\` | ${LWM2M_STATE_OF[s]} ${LWM2M_STATE_NAME[LWM2M_STATE_OF[s]]} | ${STATE_MEANING[s]} |`);
  lines.push("");
  lines.push("## Transitions");
  lines.push("");
  lines.push("| from | event | to | Update Result (5/0/5) | when |");
  lines.push("|---|---|---|---|---|");
  for (const r of TRANSITIONS) {
    const res = r.result === "keep" ? "unchanged" : r.result === "reason" ? "the reason's code (below)" : `${r.result} ${RESULT_NAME[r.result]}`;
    lines.push(`| ${r.from.map((s) => `\`${s}\``).join(", ")} | \`${r.event}\` | \`${r.to}\` | ${res} | ${r.when} |`);
  }
  lines.push("");
  lines.push("## Failure results");
  lines.push("");
  lines.push("A `fail` step reports the LwM2M Update Result of the error's reason: the `lwm2m` column of");
  lines.push("`REASONS` in `src/errors.ts` (e.g. `digest-mismatch` -> 5, `wrong-model` -> 6, `no-space` -> 2,");
  lines.push("`connection-lost` -> 4). A package refused before its first flash write (signature, model, security");
  lines.push("counter, base) changes no persisted state: `status()` reports the refusal's result with the state unchanged.");
  lines.push("");
  return lines.join("\n");
}
