// From a model profile to the device engine's flash layout.
import { UsageError } from "../errors.js";
import { planLayout, type Layout } from "../device/layout.js";
import type { ModelProfile, StrategyName } from "./profiles.js";

/** The device Layout of a model's virtual module (default: the profile's first strategy). */
export function layoutFor(profile: ModelProfile, strategy: StrategyName = profile.strategies[0]!): { layout: Layout; flashSize: number } {
  if (!profile.strategies.includes(strategy)) {
    throw new UsageError("not-supported", `${profile.model} modules use ${profile.strategies.join(" or ")}, not ${strategy}`);
  }
  const f = profile.flash;
  return planLayout(strategy, {
    sectorSize: f.sectorSize,
    slotSize: f.slotSize,
    packageSize: f.packageSize,
    ...(strategy === "two-stage" && f.recoverySize !== undefined ? { recoverySize: f.recoverySize } : {}),
  });
}

/** Flash geometry of a model's virtual module, for SimFlash / FileFlash. */
export function geometryFor(profile: ModelProfile, strategy?: StrategyName): { size: number; sectorSize: number; pageSize: number; writeAlign: number } {
  const { flashSize } = layoutFor(profile, strategy);
  return { size: flashSize, sectorSize: profile.flash.sectorSize, pageSize: profile.flash.pageSize, writeAlign: profile.flash.writeAlign };
}
