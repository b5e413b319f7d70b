// A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with
// the openssl command (present on Debian). Returns undefined when openssl is missing.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { findBinary } from "./servers.js";

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second, unrelated CA (for "wrong CA" cases). */
  otherCaCert: string;
}

export function makePki(dir: string): TestPki | undefined {
  const openssl = findBinary("openssl");
  if (!openssl) return undefined;
  const p = (f: string) => path.join(dir, f);
  const run = (...args: string[]) => execFileSync(openssl, args, { stdio: "pipe", cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run("req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "2", "-subj", "/CN=fota test CA");
  run("req", "-x509", ...ec, "-keyout", p("other.key"), "-out", p("other.crt"), "-days", "2", "-subj", "/CN=other CA");
  fs.writeFileSync(p("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  fs.writeFileSync(p("client.ext"), "extendedKeyUsage=clientAuth\n");
  run("req", ...ec, "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=127.0.0.1");
  run("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("server.crt"), "-days", "2", "-extfile", p("server.ext"));
  run("req", ...ec, "-keyout", p("client.key"), "-out", p("client.csr"), "-subj", "/CN=device-0001");
  run("x509", "-req", "-in", p("client.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("client.crt"), "-days", "2", "-extfile", p("client.ext"));
  return {
    dir,
    caCert: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
    otherCaCert: p("other.crt"),
  };
}
