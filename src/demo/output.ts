// Where the demo's story goes: headings, narrative lines, what the virtual module printed, and
// progress bars (cli-progress on a terminal; a few plain lines otherwise).
import { MultiBar, Presets } from "cli-progress";

export interface Bar {
  /** Percent done (0-100). */
  update(percent: number): void;
  /** Ends the bar (at 100% when `complete`). */
  done(complete?: boolean): void;
}

export interface DemoOutput {
  heading(text: string): void;
  line(text: string): void;
  /** A line the virtual module (script, bootloader) printed. */
  device(text: string): void;
  bar(label: string, detail: (percent: number) => string): Bar;
}

/** Output that prints nothing (library use, --quiet). */
export const silentOutput: DemoOutput = {
  heading() {},
  line() {},
  device() {},
  bar: () => ({ update() {}, done() {} }),
};

export function streamOutput(stream: NodeJS.WritableStream & { isTTY?: boolean }, opts: { tty?: boolean } = {}): DemoOutput {
  const tty = opts.tty ?? stream.isTTY === true;
  let active: MultiBar | undefined;
  const write = (text: string) => {
    if (active) active.log(text + "\n");
    else stream.write(text + "\n");
  };
  return {
    heading(text) {
      write("");
      write(tty ? `\x1b[1m${text}\x1b[0m` : text);
    },
    line: write,
    device(text) {
      write(`  │ ${text}`);
    },
    bar(label, detail) {
      if (!tty) {
        // Plain lines at 0, 25, 50, 75 and 100 percent.
        let next = 0;
        const say = (p: number) => stream.write(`  ${label} ${String(p).padStart(3)}%  ${detail(p)}\n`);
        return {
          update(p) {
            while (p >= next && next <= 100) {
              say(next);
              next += 25;
            }
          },
          done(complete = true) {
            if (complete && next <= 100) say(100);
            next = 101;
          },
        };
      }
      const multi = new MultiBar(
        { format: `  ${label} [{bar}] {percentage}%  {detail}`, hideCursor: true, clearOnComplete: false, stopOnComplete: false, barsize: 30, stream: stream as NodeJS.WriteStream },
        Presets.shades_classic,
      );
      active = multi;
      const b = multi.create(100, 0, { detail: detail(0) });
      let last = 0;
      return {
        update(p) {
          last = Math.max(last, Math.min(100, p));
          b.update(last, { detail: detail(last) });
        },
        done(complete = true) {
          if (active !== multi) return;
          if (complete) b.update(100, { detail: detail(100) });
          multi.stop();
          active = undefined;
        },
      };
    },
  };
}
