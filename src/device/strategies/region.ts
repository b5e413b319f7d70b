// The region an in-place delta rewrites on an "inplace" device: the application slot, followed by the
// sectors of the package area past the stored package. Those are free while the bootloader installs
// (the package is read, never written, and nothing else uses the area then), so a patch may keep its
// stashes there: they are the "spare sectors past the images" of the delta format (see
// src/delta/inplace.ts), which otherwise only a slot larger than the images provides. The stored
// package itself is never part of the region.

import { StorageError } from "../../errors.js";
import type { Device } from "../device.js";
import type { FlashArea } from "../flash.js";

export interface RegionMap {
  readonly sectorSize: number;
  readonly slot: FlashArea;
  /** The package area, when the package's size is known (it lends tailSectors sectors, perhaps none). */
  readonly tail?: FlashArea;
  /** First free package-area offset (the stored package rounded up to a sector). */
  readonly tailStart: number;
  readonly tailSectors: number;
  /** Region bytes: the slot, then the lent sectors. */
  readonly size: number;
}

/** The in-place region of `dev` while a package of `packageSize` bytes is stored (unknown size: the slot alone). */
export function inPlaceRegionMap(dev: Device, packageSize: number | undefined): RegionMap {
  const slot = dev.areas.slots[0]!;
  const S = slot.geometry.sectorSize;
  const pkg = dev.areas.package;
  if (!pkg || packageSize === undefined || pkg.geometry.sectorSize !== S) return { sectorSize: S, slot, tailStart: 0, tailSectors: 0, size: slot.geometry.size };
  const tailStart = Math.ceil(packageSize / S) * S;
  const tailSectors = Math.max(0, Math.floor((pkg.geometry.size - tailStart) / S));
  return { sectorSize: S, slot, tail: pkg, tailStart, tailSectors, size: slot.geometry.size + tailSectors * S };
}

/** The area and offset of region sector `index`. */
export function sectorAt(m: RegionMap, index: number): { area: FlashArea; at: number } {
  const o = index * m.sectorSize;
  const slotBytes = m.slot.geometry.size;
  if (o < slotBytes) return { area: m.slot, at: o };
  if (!m.tail || o >= m.size) throw new StorageError("io-failed", `in-place region sector ${index} is past the region (${m.size} bytes)`);
  return { area: m.tail, at: m.tailStart + (o - slotBytes) };
}

/** Region bytes [o, o + n), across the slot's end when they span it. */
export function readRegion(m: RegionMap, o: number, n: number): Uint8Array {
  const slotBytes = m.slot.geometry.size;
  if (o + n <= slotBytes) return m.slot.read(o, n);
  if (!m.tail || o + n > m.size) throw new StorageError("io-failed", `in-place region read ${o}+${n} is past the region (${m.size} bytes)`);
  if (o >= slotBytes) return m.tail.read(m.tailStart + (o - slotBytes), n);
  const out = new Uint8Array(n);
  out.set(m.slot.read(o, slotBytes - o), 0);
  out.set(m.tail.read(m.tailStart, o + n - slotBytes), slotBytes - o);
  return out;
}
