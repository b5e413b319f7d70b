// Messages between the MicroPython worker and the engine on the main thread.
//
// Worker -> main goes over `parentPort` (ordered with the script's console output). Main -> worker
// goes over a dedicated MessagePort that the worker reads synchronously (receiveMessageOnPort) after
// waking from Atomics.wait on a shared counter: that is what lets Python block in a host call.

/** Python source of one module the worker installs before the script runs. */
import type { MessagePort } from "node:worker_threads";

export interface WorkerModule {
  name: string;
  aliases: string[];
  source: string;
  /** The source binds `_EXPORT`: `import name` yields that object instead of the module. */
  exported: boolean;
}

export interface WorkerInit {
  port: MessagePort;
  /** Int32[0]: bumped by main after every message it posts on `port`. */
  signal: SharedArrayBuffer;
  /** Virtual clock parameters (see clock.ts). */
  clock: SharedArrayBuffer;
  /** Host directory mounted as /usr. */
  usrDir: string;
  modules: WorkerModule[];
  /** The application script: a display name and its source. */
  script: { name: string; source: string };
  heapBytes: number;
  pystackWords: number;
}

export type WorkerToMain =
  | { t: "ready" }
  | { t: "out"; fd: 1 | 2; text: string }
  | { t: "call"; id: number; name: string; args: unknown[]; bin?: Uint8Array }
  | { t: "note"; name: string; args: unknown[]; bin?: Uint8Array }
  /** The worker waits without a deadline; main answers `idle` (same seq) if nothing can happen. */
  | { t: "waiting"; seq: number }
  | { t: "done"; status: number }
  | { t: "fatal"; message: string };

export type MainToWorker =
  | { t: "r"; id: number; ok?: unknown; err?: { type: string; args: unknown[] }; bin?: Uint8Array }
  | { t: "cb"; seq: number; fn: number; args: unknown[] }
  | { t: "idle"; seq: number };
