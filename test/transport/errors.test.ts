// The mapping from low-level network errors to TransportError reasons and QuecPython codes, for the
// codes the real-server tests cannot provoke on demand (DNS timeouts, unreachable networks...).
import { describe, expect, it } from "vitest";
import { TransportError } from "../../src/errors.js";
import { isRetryable, toTransportError } from "../../src/transport/errors.js";

function sysErr(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe("toTransportError", () => {
  const cases: Array<[string, Error, string, number, boolean]> = [
    ["ENOTFOUND", sysErr("ENOTFOUND", "getaddrinfo ENOTFOUND x.invalid"), "dns-not-found", 1001, false],
    ["EAI_AGAIN", sysErr("EAI_AGAIN"), "dns-timeout", 1002, true],
    ["ECONNREFUSED", sysErr("ECONNREFUSED"), "connect-failed", 1004, true],
    ["ENETUNREACH", sysErr("ENETUNREACH"), "connect-failed", 1004, true],
    ["undici connect timeout", sysErr("UND_ERR_CONNECT_TIMEOUT"), "connect-failed", 1004, true],
    ["cert not trusted", sysErr("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "tls-failed", 1005, false],
    ["self-signed", sysErr("DEPTH_ZERO_SELF_SIGNED_CERT"), "tls-failed", 1005, false],
    ["headers timeout", sysErr("UND_ERR_HEADERS_TIMEOUT"), "timeout", 1008, true],
    ["body timeout", sysErr("UND_ERR_BODY_TIMEOUT"), "timeout", 1008, true],
    ["FTP data timeout", new Error("Timeout (data socket)"), "timeout", 1008, true],
    ["reset", sysErr("ECONNRESET"), "connection-lost", 1011, true],
    ["reset during handshake", sysErr("ECONNRESET", "Client network socket disconnected before secure TLS connection was established"), "connection-lost", 1011, true],
    ["short body", sysErr("UND_ERR_RES_CONTENT_LENGTH_MISMATCH"), "connection-lost", 1011, true],
    ["wrapped cause", Object.assign(new Error("fetch failed"), { cause: sysErr("ECONNREFUSED") }), "connect-failed", 1004, true],
  ];
  it.each(cases)("%s", (_name, err, reason, quec, retryable) => {
    const e = toTransportError(err, "host:1");
    expect(e).toBeInstanceOf(TransportError);
    expect(e.reason).toBe(reason);
    expect(e.quecCode).toBe(quec);
    expect(isRetryable(e)).toBe(retryable);
    expect(e.message).toContain("host:1");
  });
});
