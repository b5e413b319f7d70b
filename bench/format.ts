// Full-image compression at bounded decoder memory: sizes of the block-compressed payload choices
// side by side with whole-stream compression (which a synchronous bounded-memory decoder cannot use).
//   npm run bench:format -- FILE...        (default: the golden test image)
import { readFileSync } from "node:fs";
import { brotliCompressSync, constants as Z, deflateRawSync } from "node:zlib";
import { withConfig } from "../src/config.js";
import { compressImage } from "../src/format/index.js";

const files = process.argv.slice(2);
if (files.length === 0) files.push(new URL("../../test/fixtures/format/image-v2.bin", import.meta.url).pathname);

const rows: string[][] = [["file", "bytes", "deflate9 whole", "brotli11 whole", "deflate blocks 64K", "brotli blocks 16K", "brotli blocks 64K", "brotli blocks 256K", "brotli 64K ms"]];
for (const f of files) {
  const image = new Uint8Array(readFileSync(f));
  const whole = (fn: () => Uint8Array) => String(fn().length);
  const blocks = (c: "brotli" | "deflate", bs: number) => compressImage(image, c, withConfig({ format: { compressBlockBytes: bs } })).length;
  const t = Date.now();
  const b64 = blocks("brotli", 65536);
  const ms = Date.now() - t;
  rows.push([
    f.split("/").pop()!,
    String(image.length),
    whole(() => deflateRawSync(image, { level: 9 })),
    whole(() => brotliCompressSync(image, { params: { [Z.BROTLI_PARAM_QUALITY]: 11, [Z.BROTLI_PARAM_LGWIN]: 22 } })),
    String(blocks("deflate", 65536)),
    String(blocks("brotli", 16384)),
    String(b64),
    String(blocks("brotli", 262144)),
    String(ms),
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i]!)).join("  "));
