// The argument rules as pure data: each call's conversions, arity and refusals.
import { describe, expect, it } from "vitest";
import { checkApn, checkAttribute, checkCall, checkDownloadPolicy, describeJs, urlScheme } from "../../src/quecpython/args.js";
import { PROFILES } from "../../src/quecpython/profiles.js";

const s = (v: string) => ({ t: "str", v });
const i = (v: number) => ({ t: "int", v });

describe("checkCall", () => {
  it("fills keyword defaults and converts bool to int", () => {
    expect(checkCall("fota", [], {})).toEqual({ ok: true, values: { key: null, cert: null, root_cert: null, reset_disable: 0 } });
    expect(checkCall("fota", [], { reset_disable: { t: "bool", v: true } })).toMatchObject({ ok: true, values: { reset_disable: 1 } });
    expect(checkCall("fota", [], { root_cert: { t: "bytes", v: new Uint8Array([1]) } })).toMatchObject({ ok: true });
    expect(checkCall("fota", [], { root_cert: i(3) })).toEqual({ ok: false, raise: { type: "TypeError", message: "can't convert 'int' object to str implicitly" } });
  });

  it("keyword-only calls refuse positional and unknown keyword arguments", () => {
    for (const name of ["fota", "httpDownload", "apn_set"] as const) {
      expect(checkCall(name, [s("x")], {})).toEqual({ ok: false, raise: { type: "TypeError", message: "extra positional arguments given" } });
      expect(checkCall(name, [], { nope: s("x") })).toEqual({ ok: false, raise: { type: "TypeError", message: "extra keyword arguments given" } });
    }
    expect(checkCall("apn_set", [], { ip_type: { t: "float", v: 1.5 } })).toEqual({ ok: false, raise: { type: "TypeError", message: "can't convert float to int" } });
    expect(checkCall("httpDownload", [], { url1: s("http://h/p"), callback: { t: "function" } })).toMatchObject({ ok: true, values: { url1: "http://h/p", url2: null } });
  });

  it("plain methods: arity, keywords, and write's own rules", () => {
    expect(checkCall("flush", [], {})).toEqual({ ok: true, values: {} });
    expect(checkCall("verify", [i(1)], {})).toEqual({ ok: false, raise: { type: "TypeError", message: "function takes 1 positional arguments but 2 were given" } });
    expect(checkCall("download_cancel", [], { x: i(1) })).toEqual({ ok: false, raise: { type: "TypeError", message: "function doesn't take keyword arguments" } });
    expect(checkCall("write", [{ t: "bytes" }], {})).toEqual({ ok: false, ret: -1, log: "*** input param invalid ***" });
    expect(checkCall("write", [{ t: "bytes" }, i(1), i(2)], {})).toEqual({ ok: false, raise: { type: "TypeError", message: "function expected at most 3 arguments, got 4" } });
    // file_size is converted before the buffer, as in the C body
    expect(checkCall("write", [i(5), s("7")], {})).toEqual({ ok: false, raise: { type: "TypeError", message: "can't convert str to int" } });
    expect(checkCall("write", [i(5), i(7)], {})).toEqual({ ok: false, raise: { type: "TypeError", message: "object with buffer protocol required" } });
    for (const t of ["bytes", "bytearray", "memoryview", "str"]) expect(checkCall("write", [{ t, v: "x" }, i(7)], {}).ok).toBe(true);
  });

  it("describes JS values as Python types", () => {
    expect(describeJs(null)).toEqual({ t: "NoneType", v: null });
    expect(describeJs(3)).toEqual({ t: "int", v: 3 });
    expect(describeJs(3.5).t).toBe("float");
    expect(describeJs("a").t).toBe("str");
    expect(describeJs(new Uint8Array(1)).t).toBe("bytes");
    expect(describeJs(() => 1).t).toBe("function");
  });
});

describe("model refusals", () => {
  it("absent attributes follow the profile", () => {
    expect(checkAttribute(PROFILES.BG95!, "download_cancel")).toBeNull();
    expect(checkAttribute(PROFILES.EC600U!, "apn_set")).toEqual({ type: "AttributeError", message: "'fota' object has no attribute 'apn_set'" });
    expect(checkAttribute(PROFILES.EC800N!, "write")).toBeNull(); // exists, fails with -1
  });

  it("url2, schemes and missing url1", () => {
    expect(checkDownloadPolicy(PROFILES.EC600N!, "http://a/1", "http://a/2")).toBeNull();
    expect(checkDownloadPolicy(PROFILES.EC600U!, "http://a/1", "http://a/2")?.log).toMatch(/mini FOTA/);
    expect(checkDownloadPolicy(PROFILES.EC200A!, "ftp://u:p@h:21/f", null)).toBeNull();
    expect(checkDownloadPolicy(PROFILES.BG95!, "ftp://u:p@h:21/f", null)?.log).toMatch(/ftp/);
    expect(checkDownloadPolicy(PROFILES.EC600N!, "http://a/1", "ftp://h/2")?.log).toMatch(/ftp/);
    expect(checkDownloadPolicy(PROFILES.EC600U!, "file:///etc/passwd", null)?.log).toMatch(/file/);
    expect(checkDownloadPolicy(PROFILES.EC600U!, null, null)?.log).toMatch(/url1/);
    // not URL-shaped at all: left to fail as a bad URL (1003) like on the module
    expect(checkDownloadPolicy(PROFILES.EC600U!, "not a url", null)).toBeNull();
    expect(urlScheme("HTTPS://x/y")).toBe("https");
    expect(checkApn(0)).toBeNull();
    expect(checkApn(1)).toBeNull();
    expect(checkApn(2)?.log).toMatch(/ip_type/);
  });
});
