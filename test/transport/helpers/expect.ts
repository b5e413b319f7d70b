import { expect } from "vitest";
import { FotaError, REASONS, type Reason } from "../../../src/errors.js";

/** Await `p`, expect it to reject with a FotaError of `reason`, and check its QuecPython code. */
export async function expectReason(p: Promise<unknown>, reason: Reason, quec?: number): Promise<FotaError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected a ${reason} error`).toBeInstanceOf(FotaError);
  const fe = err as FotaError;
  expect(fe.reason, fe.message).toBe(reason);
  expect(fe.quecCode).toBe(REASONS[reason].quec);
  if (quec !== undefined) expect(fe.quecCode).toBe(quec);
  return fe;
}
