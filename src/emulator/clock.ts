// The virtual clock of a virtual module. Virtual time runs `speed` times faster than real time and
// is the one time base of `utime`, `_thread` waits, engine timers and the link throttle, so a
// 40-second wait over a slow link takes a second or two of real time at --clock-speed 40.
//
// The clock's parameters live in a SharedArrayBuffer so the MicroPython worker reads virtual time
// without a round trip to the main thread (utime.ticks_ms is called often).

import { UsageError } from "../errors.js";

/** Layout of the shared parameters (Float64): real origin (ms since epoch), virtual origin, speed. */
const REAL0 = 0;
const VIRT0 = 1;
const SPEED = 2;

export interface ClockParams {
  /** Float64Array view over a SharedArrayBuffer of 3 doubles. */
  shared: SharedArrayBuffer;
}

function realNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Virtual time read from shared parameters (usable in any thread). */
export function virtualNowFrom(params: Float64Array): number {
  return params[VIRT0]! + (realNow() - params[REAL0]!) * params[SPEED]!;
}

export class VirtualClock {
  readonly shared: SharedArrayBuffer;
  private readonly p: Float64Array;
  private timers = new Set<ReturnType<typeof setTimeout>>();

  /**
   * @param speed virtual seconds per real second (> 0)
   * @param start virtual time at creation, in ms since the Unix epoch (default: the host's now)
   */
  constructor(speed = 1, start = Date.now()) {
    if (!Number.isFinite(speed) || speed <= 0) throw new UsageError("bad-argument", `clock speed must be a positive number, got ${speed}`);
    this.shared = new SharedArrayBuffer(3 * 8);
    this.p = new Float64Array(this.shared);
    this.p[REAL0] = realNow();
    this.p[VIRT0] = start;
    this.p[SPEED] = speed;
  }

  get speed(): number {
    return this.p[SPEED]!;
  }

  /** Virtual time now, in ms since the Unix epoch (fractional). */
  now(): number {
    return virtualNowFrom(this.p);
  }

  /** Real milliseconds that `virtualMs` of virtual time take. */
  toReal(virtualMs: number): number {
    return Math.max(0, virtualMs) / this.speed;
  }

  /** Resolve after `virtualMs` of virtual time (rejects with the signal's reason when aborted). */
  sleep(virtualMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        this.timers.delete(t);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, this.toReal(virtualMs));
      this.timers.add(t);
      const onAbort = () => {
        clearTimeout(t);
        this.timers.delete(t);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Run `fn` after `virtualMs` of virtual time; returns a cancel function. */
  setTimer(virtualMs: number, fn: () => void): () => void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.toReal(virtualMs));
    this.timers.add(t);
    return () => {
      clearTimeout(t);
      this.timers.delete(t);
    };
  }

  /** Cancel every pending timer (the module lost power). */
  stopAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * A link throttle in virtual time: `await throttle(n)` after receiving n bytes keeps the average rate
 * at `kbps` kbit/s of virtual time. `kbps` <= 0 or undefined means unthrottled.
 */
export function createLinkThrottle(clock: VirtualClock, kbps: number | undefined): (bytes: number, signal?: AbortSignal) => Promise<void> {
  if (!kbps || kbps <= 0) return async () => {};
  const bytesPerMs = (kbps * 1000) / 8 / 1000;
  let start: number | undefined;
  let total = 0;
  return async (bytes: number, signal?: AbortSignal) => {
    if (start === undefined) start = clock.now();
    total += bytes;
    const due = start + total / bytesPerMs;
    const wait = due - clock.now();
    if (wait > 0) await clock.sleep(wait, signal);
  };
}
