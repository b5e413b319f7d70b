// The one error tree of fota, and the one table that maps every failure reason to what each face
// reports: the CLI exit code, the QuecPython `fota` error code (1001-1014, passed as the callback's
// progress value with status -1) and the LwM2M Object 5 Update Result (resource 5/0/5).
//
// Library code throws only these classes. Each instance carries a `reason` (a key of REASONS) so the
// faces never guess from message text.

/** LwM2M Object 5 Update Result values (resource /5/0/5). */
export const LWM2M_RESULT = {
  INITIAL: 0,
  SUCCESS: 1,
  NOT_ENOUGH_FLASH: 2,
  OUT_OF_RAM: 3,
  CONNECTION_LOST: 4,
  INTEGRITY_FAILURE: 5,
  UNSUPPORTED_PACKAGE: 6,
  INVALID_URI: 7,
  UPDATE_FAILED: 8,
  UNSUPPORTED_PROTOCOL: 9,
  CANCELLED: 10,
  DEFERRED: 11,
} as const;

/** QuecPython `fota` error codes (EC600N family table; used for every model we emulate). */
export const QUEC_CODE = {
  DOMAIN_NOT_EXIST: 1001,
  DOMAIN_TIMEOUT: 1002,
  DOMAIN_UNKNOWN: 1003,
  SERVER_CONN_FAIL: 1004,
  AUTH_FAILED: 1005,
  FILE_NOT_EXIST: 1006,
  FILE_SIZE_INVALID: 1007,
  FILE_GET_ERR: 1008,
  FILE_CHECK_ERR: 1009,
  INTERNAL_ERR: 1010,
  NOT_INPROGRESS: 1011,
  NO_MEMORY: 1012,
  FILE_SIZE_TOO_LARGE: 1013,
  PARAM_SIZE_INVALID: 1014,
} as const;

export type ErrorKind =
  | "usage"
  | "format"
  | "signature"
  | "integrity"
  | "compatibility"
  | "rollback"
  | "transport"
  | "storage"
  | "state"
  | "cancelled";

interface ReasonRow {
  kind: ErrorKind;
  exit: number;
  quec: number;
  lwm2m: number;
  summary: string;
}

const L = LWM2M_RESULT;
const Q = QUEC_CODE;

/** Every failure reason, in one table. Add a row here before throwing a new reason. */
export const REASONS = {
  // usage: the caller's input is wrong
  "bad-argument": { kind: "usage", exit: 2, quec: Q.PARAM_SIZE_INVALID, lwm2m: L.UPDATE_FAILED, summary: "invalid argument" },
  "file-exists": { kind: "usage", exit: 2, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "refusing to overwrite" },
  "not-supported": { kind: "usage", exit: 2, quec: Q.INTERNAL_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "not supported" },
  // format: bytes that do not parse
  "malformed": { kind: "format", exit: 3, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "malformed package" },
  "truncated": { kind: "format", exit: 3, quec: Q.FILE_SIZE_INVALID, lwm2m: L.INTEGRITY_FAILURE, summary: "truncated package" },
  "limit-exceeded": { kind: "format", exit: 3, quec: Q.FILE_SIZE_TOO_LARGE, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "length field over its limit" },
  "unsupported-version": { kind: "format", exit: 3, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "unsupported format version" },
  "unknown-critical": { kind: "format", exit: 3, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "unknown critical field" },
  "corrupt-patch": { kind: "format", exit: 3, quec: Q.FILE_CHECK_ERR, lwm2m: L.INTEGRITY_FAILURE, summary: "corrupt delta patch" },
  "unsupported-encoding": { kind: "format", exit: 3, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "payload encoding not supported by this reader" },
  // signature
  "bad-signature": { kind: "signature", exit: 4, quec: Q.FILE_CHECK_ERR, lwm2m: L.INTEGRITY_FAILURE, summary: "signature does not verify" },
  "untrusted-key": { kind: "signature", exit: 4, quec: Q.FILE_CHECK_ERR, lwm2m: L.INTEGRITY_FAILURE, summary: "no signature by a trusted key" },
  "bad-key": { kind: "signature", exit: 4, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "unusable key file" },
  // integrity: a digest or size does not match
  "digest-mismatch": { kind: "integrity", exit: 5, quec: Q.FILE_CHECK_ERR, lwm2m: L.INTEGRITY_FAILURE, summary: "digest mismatch" },
  "size-mismatch": { kind: "integrity", exit: 5, quec: Q.FILE_SIZE_INVALID, lwm2m: L.INTEGRITY_FAILURE, summary: "size mismatch" },
  // compatibility: authentic, but not for this device or not now
  "wrong-model": { kind: "compatibility", exit: 6, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "package is for another model" },
  "wrong-base": { kind: "compatibility", exit: 6, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "delta does not apply to this base image" },
  "expired": { kind: "compatibility", exit: 6, quec: Q.FILE_CHECK_ERR, lwm2m: L.UNSUPPORTED_PACKAGE, summary: "package has expired" },
  "too-large": { kind: "compatibility", exit: 6, quec: Q.FILE_SIZE_TOO_LARGE, lwm2m: L.NOT_ENOUGH_FLASH, summary: "image does not fit" },
  // rollback: anti-rollback refused it
  "security-counter": { kind: "rollback", exit: 7, quec: Q.FILE_CHECK_ERR, lwm2m: L.UPDATE_FAILED, summary: "security counter below the device's" },
  // transport
  "dns-not-found": { kind: "transport", exit: 8, quec: Q.DOMAIN_NOT_EXIST, lwm2m: L.INVALID_URI, summary: "host name not found" },
  "dns-timeout": { kind: "transport", exit: 8, quec: Q.DOMAIN_TIMEOUT, lwm2m: L.CONNECTION_LOST, summary: "host name lookup timed out" },
  "bad-url": { kind: "transport", exit: 8, quec: Q.DOMAIN_UNKNOWN, lwm2m: L.INVALID_URI, summary: "malformed URL" },
  "unsupported-protocol": { kind: "transport", exit: 8, quec: Q.DOMAIN_UNKNOWN, lwm2m: L.UNSUPPORTED_PROTOCOL, summary: "unsupported URL scheme" },
  "connect-failed": { kind: "transport", exit: 8, quec: Q.SERVER_CONN_FAIL, lwm2m: L.CONNECTION_LOST, summary: "could not connect to the server" },
  "auth-failed": { kind: "transport", exit: 8, quec: Q.AUTH_FAILED, lwm2m: L.CONNECTION_LOST, summary: "authentication failed" },
  "not-found": { kind: "transport", exit: 8, quec: Q.FILE_NOT_EXIST, lwm2m: L.INVALID_URI, summary: "file not found on the server" },
  "bad-length": { kind: "transport", exit: 8, quec: Q.FILE_SIZE_INVALID, lwm2m: L.CONNECTION_LOST, summary: "server sent a wrong length" },
  "http-error": { kind: "transport", exit: 8, quec: Q.FILE_GET_ERR, lwm2m: L.CONNECTION_LOST, summary: "server answered with an error" },
  "connection-lost": { kind: "transport", exit: 8, quec: Q.NOT_INPROGRESS, lwm2m: L.CONNECTION_LOST, summary: "connection lost" },
  "timeout": { kind: "transport", exit: 8, quec: Q.FILE_GET_ERR, lwm2m: L.CONNECTION_LOST, summary: "timed out" },
  "oversize": { kind: "transport", exit: 8, quec: Q.FILE_SIZE_TOO_LARGE, lwm2m: L.NOT_ENOUGH_FLASH, summary: "more data than declared" },
  "tls-failed": { kind: "transport", exit: 8, quec: Q.AUTH_FAILED, lwm2m: L.CONNECTION_LOST, summary: "TLS handshake failed" },
  "source-changed": { kind: "transport", exit: 8, quec: Q.FILE_GET_ERR, lwm2m: L.CONNECTION_LOST, summary: "file kept changing on the server during the download" },
  // storage: flash or file system
  "flash-failed": { kind: "storage", exit: 9, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "flash operation failed" },
  "no-space": { kind: "storage", exit: 9, quec: Q.NO_MEMORY, lwm2m: L.NOT_ENOUGH_FLASH, summary: "not enough space" },
  "io-failed": { kind: "storage", exit: 9, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "file I/O failed" },
  "out-of-memory": { kind: "storage", exit: 9, quec: Q.NO_MEMORY, lwm2m: L.OUT_OF_RAM, summary: "working memory bound exceeded" },
  // state: the update state machine refuses the step
  "bad-transition": { kind: "state", exit: 10, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "step not allowed in this state" },
  "no-image": { kind: "state", exit: 10, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "no bootable image" },
  "busy": { kind: "state", exit: 10, quec: Q.INTERNAL_ERR, lwm2m: L.UPDATE_FAILED, summary: "an update is already in progress" },
  // cancelled by the caller
  "cancelled": { kind: "cancelled", exit: 130, quec: Q.NOT_INPROGRESS, lwm2m: L.CANCELLED, summary: "cancelled" },
} as const satisfies Record<string, ReasonRow>;

export type Reason = keyof typeof REASONS;

export function reasonRow(reason: Reason): ReasonRow {
  return REASONS[reason];
}

/** Base class of every error fota throws on purpose. */
export class FotaError extends Error {
  readonly reason: Reason;
  /** Extra facts for logs and `--json` output (offsets, expected/actual digests...). */
  readonly details: Record<string, unknown>;

  constructor(reason: Reason, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.details = options?.details ?? {};
    this.name = new.target.name;
  }

  get kind(): ErrorKind {
    return REASONS[this.reason].kind;
  }
  get exitCode(): number {
    return REASONS[this.reason].exit;
  }
  get quecCode(): number {
    return REASONS[this.reason].quec;
  }
  get lwm2mResult(): number {
    return REASONS[this.reason].lwm2m;
  }
}

type ReasonOf<K extends ErrorKind> = { [R in Reason]: (typeof REASONS)[R]["kind"] extends K ? R : never }[Reason];

function kindClass<K extends ErrorKind>(kind: K) {
  return class extends FotaError {
    constructor(reason: ReasonOf<K>, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
      if (REASONS[reason].kind !== kind) throw new TypeError(`reason ${reason} is not a ${kind} reason`);
      super(reason, message, options);
    }
  };
}

// Usage: `new FormatError("truncated", "package ends at byte 12; its header needs 64")`.
export class UsageError extends kindClass("usage") {}
export class FormatError extends kindClass("format") {}
export class SignatureError extends kindClass("signature") {}
export class IntegrityError extends kindClass("integrity") {}
export class CompatibilityError extends kindClass("compatibility") {}
export class RollbackError extends kindClass("rollback") {}
export class TransportError extends kindClass("transport") {}
export class StorageError extends kindClass("storage") {}
export class StateError extends kindClass("state") {}
export class CancelledError extends kindClass("cancelled") {}

export function isFotaError(e: unknown): e is FotaError {
  return e instanceof FotaError;
}
