// Flash layouts: where the state copies, application slots, package area, scratch sector and
// recovery area live. A layout is plain data (so it can be stored beside a virtual module and
// printed); `planLayout` computes one from a few sizes, `openAreas` checks it against a device.

import { UsageError } from "../errors.js";
import { FlashArea, type Flash } from "./flash.js";

export type StrategyName = "ab" | "inplace" | "two-stage";
export const STRATEGIES: readonly StrategyName[] = ["ab", "inplace", "two-stage"];

export interface Region {
  offset: number;
  size: number;
}

export interface Layout {
  strategy: StrategyName;
  /** Boot state: two copies (an even number of sectors). */
  state: Region;
  /** Application slots: two for ab, one otherwise. */
  slots: Region[];
  /** Package area: whole packages are stored here (inplace; local upgrade on any strategy). */
  package?: Region;
  /** Scratch sector(s) for in-place delta installs. */
  scratch?: Region;
  /** Recovery system area (two-stage). */
  recovery?: Region;
}

export interface LayoutPlan {
  sectorSize: number;
  /** Size of each application slot (rounded up to whole sectors). */
  slotSize: number;
  /** Package area size; default: slot size + 8 KiB for inplace, none for ab/two-stage (0 = none). */
  packageSize?: number;
  /** Recovery area size (two-stage); default: a quarter of the slot, at least one sector. */
  recoverySize?: number;
  /** Sectors per state copy (default 1). */
  stateSectorsPerCopy?: number;
  /** Scratch sectors (inplace; default 1). */
  scratchSectors?: number;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Compute a layout and the flash size it needs. Areas follow each other from offset 0. */
export function planLayout(strategy: StrategyName, plan: LayoutPlan): { layout: Layout; flashSize: number } {
  if (!STRATEGIES.includes(strategy)) throw new UsageError("bad-argument", `unknown strategy "${strategy}"; use one of ${STRATEGIES.join(", ")}`);
  const ss = plan.sectorSize;
  let at = 0;
  const take = (size: number): Region => {
    const r = { offset: at, size: roundUp(size, ss) };
    at += r.size;
    return r;
  };
  const state = take(2 * (plan.stateSectorsPerCopy ?? 1) * ss);
  const slotSize = roundUp(plan.slotSize, ss);
  const layout: Layout = { strategy, state, slots: [] };
  layout.slots.push(take(slotSize));
  if (strategy === "ab") layout.slots.push(take(slotSize));
  if (strategy === "two-stage") layout.recovery = take(plan.recoverySize ?? Math.max(ss, roundUp(slotSize / 4, ss)));
  const pkg = plan.packageSize ?? (strategy === "inplace" ? slotSize + 8192 : 0);
  if (pkg > 0) layout.package = take(pkg);
  if (strategy === "inplace") layout.scratch = take((plan.scratchSectors ?? 1) * ss);
  return { layout, flashSize: at };
}

export interface Areas {
  state: FlashArea;
  slots: FlashArea[];
  package?: FlashArea;
  scratch?: FlashArea;
  recovery?: FlashArea;
}

/** Check a layout against a device (bounds, alignment, no overlaps, what the strategy needs). */
export function openAreas(flash: Flash, layout: Layout): Areas {
  const regions: Array<[string, Region]> = [["state", layout.state], ...layout.slots.map((r, i): [string, Region] => [`slot${i}`, r])];
  if (layout.package) regions.push(["package", layout.package]);
  if (layout.scratch) regions.push(["scratch", layout.scratch]);
  if (layout.recovery) regions.push(["recovery", layout.recovery]);
  const sorted = [...regions].sort((a, b) => a[1].offset - b[1].offset);
  for (let i = 1; i < sorted.length; i++) {
    const [pn, p] = sorted[i - 1]!;
    const [n, r] = sorted[i]!;
    if (p.offset + p.size > r.offset) throw new UsageError("bad-argument", `flash layout: ${pn} overlaps ${n}`);
  }
  const need = { ab: 2, inplace: 1, "two-stage": 1 }[layout.strategy];
  if (layout.slots.length !== need) throw new UsageError("bad-argument", `flash layout: strategy ${layout.strategy} needs ${need} application slot(s), the layout has ${layout.slots.length}`);
  if (layout.strategy === "inplace" && !layout.package) throw new UsageError("bad-argument", "flash layout: strategy inplace needs a package area");
  if (layout.strategy === "two-stage" && !layout.recovery) throw new UsageError("bad-argument", "flash layout: strategy two-stage needs a recovery area");
  const area = (name: string, r: Region) => new FlashArea(flash, r.offset, r.size, name);
  const out: Areas = { state: area("state", layout.state), slots: layout.slots.map((r, i) => area(`slot${i}`, r)) };
  if (layout.package) out.package = area("package", layout.package);
  if (layout.scratch) out.scratch = area("scratch", layout.scratch);
  if (layout.recovery) out.recovery = area("recovery", layout.recovery);
  return out;
}
