// The idiomatic TypeScript face of a module's firmware update: Promises, AbortSignal, typed events.
//
//   const client = new FotaClient({ engine });
//   const r = await client.download("https://host/fw.fota", { signal, onEvent: (e) => ... });
//   // r.armed: the update is pending; restart the device to install it.
//
// It drives two parts and adds no logic of its own beyond wiring them:
// - the transport fetchers (src/transport `fetchTo`), which stream the package bytes with retries
//   and Range resume, and
// - a `FotaEngine`: the device engine's view of "take a package as a stream of chunks, verify it,
//   arm it" (src/device; see engine.ts for the adapter over a real device).
// The QuecPython `fota` object (fota.ts) is a thin adapter over this class.

import { CancelledError, StateError, StorageError, isFotaError } from "../errors.js";
import { isPowerCut } from "../device/flash.js";
import { fetchTo, type ByteSink, type FetchOptions, type FetchResult, type TlsOptions } from "../transport/index.js";

/** Identity of the image an armed update installs. */
export interface ArmedImage {
  version: string;
  size: number;
  sha256: string;
  securityCounter: number;
}

/** Local upgrade on the device: the package arrives through write() calls. */
export interface LocalSession {
  write(bytes: Uint8Array, totalSize: number): void;
  flush(): void;
  /** Verify the stored package and arm the update. */
  verify(): unknown;
}

export interface EngineInstallOptions {
  signal?: AbortSignal;
  /** Mini FOTA: where the recovery system fetches stage two from (two-stage layouts). */
  stageTwo?: string;
}

/**
 * What the client needs from the device engine: src/device's Device has this shape (see
 * engine.ts). `install` consumes the package as a stream of chunks, checks everything before its
 * first flash write, and resolves once the update is armed (pending until the next boot).
 */
export interface FotaEngine {
  /** The device's model name (packages for other models are refused). */
  readonly model: string;
  install(source: AsyncIterable<Uint8Array>, opts: EngineInstallOptions): Promise<void>;
  /** The image the armed update installs (after install / verify). */
  armedImage(): ArmedImage | undefined;
  localUpgrade(): LocalSession;
}

export type FotaEvent =
  | { type: "progress"; received: number; total: number | undefined; percent: number | undefined }
  | { type: "retry"; attempt: number; reason: string; message: string }
  | { type: "downloaded"; size: number; sha256: string | undefined }
  | { type: "armed"; image: ArmedImage };

export interface DownloadOptions {
  signal?: AbortSignal;
  onEvent?: (e: FotaEvent) => void;
  /** Mini FOTA: the stage-two URL (fetched by the recovery system after the restart). */
  stageTwo?: string;
}

export interface DownloadResult {
  image: ArmedImage;
  fetch: FetchResult;
}

export interface FotaClientOptions {
  engine: FotaEngine;
  /** Transport options for every download (timeouts, retries, TLS, throttling fetchers...). */
  fetch?: FetchOptions;
  /** The fetch function (default: src/transport fetchTo). */
  fetchTo?: typeof fetchTo;
}

/**
 * The bridge between the fetcher (which pushes bytes into a ByteSink) and the device engine (which
 * pulls chunks from an async iterable): one chunk in flight, so the download goes no faster than
 * the flash takes it. A fetcher restart from byte 0 cannot be followed (the device has already
 * consumed the bytes): it fails the download.
 */
class Channel implements ByteSink, AsyncIterable<Uint8Array> {
  private size = 0;
  private queued: { bytes: Uint8Array; taken: () => void; refused: (e: unknown) => void } | undefined;
  private waiter: ((r: IteratorResult<Uint8Array>) => void) | undefined;
  private waiterFail: ((e: unknown) => void) | undefined;
  private ended = false;
  private error: { e: unknown } | undefined;

  offset(): number {
    return this.size;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.error) return Promise.reject(this.error.e);
    if (bytes.length === 0) return Promise.resolve();
    this.size += bytes.length;
    // The fetcher's chunks may be views into buffers the network layer reuses: hand out a copy.
    const copy = bytes.slice();
    return new Promise<void>((taken, refused) => {
      this.queued = { bytes: copy, taken, refused };
      this.deliver();
    });
  }

  truncate(to: number): void {
    if (to === this.size) return;
    throw new StorageError("io-failed", `the download restarted from byte ${to} after ${this.size} bytes had gone to the device; start the update again`);
  }

  /** The producer is done. */
  end(): void {
    this.ended = true;
    this.deliver();
  }

  /** Fail both sides (pending write and the consumer). */
  fail(e: unknown): void {
    if (this.error) return;
    this.error = { e };
    const q = this.queued;
    this.queued = undefined;
    q?.refused(e);
    const wf = this.waiterFail;
    this.waiter = this.waiterFail = undefined;
    wf?.(e);
  }

  private deliver(): void {
    if (!this.waiter) return;
    const w = this.waiter;
    if (this.queued) {
      const q = this.queued;
      this.queued = undefined;
      this.waiter = this.waiterFail = undefined;
      w({ value: q.bytes, done: false });
      q.taken();
    } else if (this.ended) {
      this.waiter = this.waiterFail = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () =>
        new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
          if (this.error) return reject(this.error.e);
          this.waiter = resolve;
          this.waiterFail = reject;
          this.deliver();
        }),
      return: async () => {
        this.fail(new CancelledError("cancelled", "the device stopped reading the package"));
        return { value: undefined, done: true };
      },
    };
  }
}

export class FotaClient {
  readonly engine: FotaEngine;
  private fetchOptions: FetchOptions;
  private readonly baseTls: TlsOptions | undefined;
  private readonly fetchFn: typeof fetchTo;
  private running: AbortController | undefined;

  constructor(opts: FotaClientOptions) {
    this.engine = opts.engine;
    this.fetchOptions = opts.fetch ?? {};
    this.baseTls = this.fetchOptions.tls;
    this.fetchFn = opts.fetchTo ?? fetchTo;
  }

  /**
   * TLS material for later HTTPS downloads (trusted CA, client certificate and key), merged over
   * the options the client was made with; undefined restores those.
   */
  setTls(tls: TlsOptions | undefined): void {
    const merged = tls === undefined ? this.baseTls : { ...(this.baseTls ?? {}), ...tls };
    const { tls: _old, ...rest } = this.fetchOptions;
    this.fetchOptions = merged === undefined ? rest : { ...rest, tls: merged };
  }

  /** Whether a download is running. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Downloads a package, streams it through the device engine (verified before anything is
   * written) and arms the update. Resolves once armed; rejects with a typed FotaError (its
   * `quecCode` is the QuecPython error code), a CancelledError when cancelled. On any failure
   * nothing stays armed.
   */
  async download(url: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
    if (this.running) throw new StateError("busy", "a firmware download is already running");
    const controller = new AbortController();
    this.running = controller;
    const onOuterAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
    if (opts.signal?.aborted) controller.abort(opts.signal.reason);
    const emit = opts.onEvent ?? (() => {});
    const channel = new Channel();
    let first: { e: unknown } | undefined;
    const failed = (e: unknown) => {
      first ??= { e };
      channel.fail(e);
      controller.abort(e);
    };
    try {
      const installing = this.engine
        .install(channel, { signal: controller.signal, ...(opts.stageTwo !== undefined ? { stageTwo: opts.stageTwo } : {}) })
        .catch((e: unknown) => failed(e));
      const outerEvent = this.fetchOptions.onEvent;
      const outerProgress = this.fetchOptions.onProgress;
      const fetching = this.fetchFn(url, channel, {
        ...this.fetchOptions,
        signal: controller.signal,
        onProgress: (p) => {
          outerProgress?.(p);
          emit({ type: "progress", received: p.received, total: p.total, percent: p.percent });
        },
        onEvent: (e) => {
          outerEvent?.(e);
          if (e.type === "retry") emit({ type: "retry", attempt: e.attempt, reason: e.reason, message: e.message });
        },
      }).then(
        (r) => {
          channel.end();
          return r;
        },
        (e: unknown) => {
          failed(e);
          return undefined;
        },
      );
      const fetched = await fetching;
      if (fetched) emit({ type: "downloaded", size: fetched.size, sha256: fetched.sha256 });
      await installing;
      if (first) throw first.e;
      if (!fetched) throw new StateError("bad-transition", "download ended without a result");
      const image = this.engine.armedImage();
      if (!image) throw new StateError("bad-transition", "the device did not arm the update");
      emit({ type: "armed", image });
      return { image, fetch: fetched };
    } catch (err) {
      if (controller.signal.aborted && !isFotaError(err) && !isPowerCut(err)) {
        throw new CancelledError("cancelled", "download cancelled", { cause: err });
      }
      throw err;
    } finally {
      opts.signal?.removeEventListener("abort", onOuterAbort);
      this.running = undefined;
    }
  }

  /** Cancels the running download; true when one was running. It rejects with CancelledError. */
  cancel(): boolean {
    if (!this.running) return false;
    this.running.abort(new CancelledError("cancelled", "download cancelled"));
    return true;
  }

  /** Starts a local upgrade (write / flush / verify). */
  local(): LocalUpgrade {
    return new LocalUpgrade(this.engine);
  }

  /**
   * Local upgrade in one call: feeds a package (any chunking; e.g. a file read in pieces) through
   * write(), then flush() and verify(). Resolves with the armed image; restart to install it.
   */
  async installLocal(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, totalSize: number, opts: { signal?: AbortSignal } = {}): Promise<ArmedImage> {
    const local = this.local();
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      if (opts.signal?.aborted) {
        local.abort();
        throw new CancelledError("cancelled", "local upgrade cancelled");
      }
      local.write(chunk, totalSize);
    }
    local.flush();
    return local.verify();
  }
}

/**
 * Local upgrade: the package is fed with write(bytes, totalSize) in any chunk sizes, then flush()
 * and verify(). verify() arms the update; a restart installs it. Any failure aborts the session.
 */
export class LocalUpgrade {
  private session: LocalSession | undefined;
  constructor(private readonly engine: FotaEngine) {}

  write(bytes: Uint8Array, totalSize: number): void {
    this.guard(() => {
      this.session ??= this.engine.localUpgrade();
      this.session.write(bytes, totalSize);
    });
  }

  flush(): void {
    this.guard(() => {
      if (!this.session) throw new StateError("bad-transition", "flush() before any write()");
      this.session.flush();
    });
  }

  verify(): ArmedImage {
    return this.guard(() => {
      if (!this.session) throw new StateError("bad-transition", "verify() before any write()");
      this.session.verify();
      this.session = undefined;
      const image = this.engine.armedImage();
      if (!image) throw new StateError("bad-transition", "verify passed but the device did not arm the update");
      return image;
    });
  }

  /** Drops the session (the next write starts a new package). */
  abort(): void {
    this.session = undefined;
  }

  /** Runs one step; a refused step drops the session (the next write starts a new package). */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isFotaError(err)) this.session = undefined;
      throw err;
    }
  }
}

/**
 * A URL as an async byte source (for engine calls that pull, e.g. the recovery system's stage two).
 * The download starts on the first read; when the reader stops early, the download is aborted.
 */
export function fetchSource(url: string, opts: FetchOptions = {}, fetchFn: typeof fetchTo = fetchTo): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const channel = new Channel();
      const controller = new AbortController();
      const outer = opts.signal;
      const onAbort = () => controller.abort(outer?.reason);
      outer?.addEventListener("abort", onAbort, { once: true });
      if (outer?.aborted) controller.abort(outer.reason);
      void fetchFn(url, channel, { ...opts, signal: controller.signal }).then(
        () => channel.end(),
        (e: unknown) => channel.fail(e),
      ).finally(() => outer?.removeEventListener("abort", onAbort));
      const it = channel[Symbol.asyncIterator]();
      return {
        next: () => it.next(),
        return: async () => {
          controller.abort(new CancelledError("cancelled", "the reader stopped"));
          return it.return!();
        },
      };
    },
  };
}
