// Public surface of the device engine: flash model, layouts, strategies, boot control, updater.
export {
  type Flash,
  type FlashGeometry,
  type FlashCounters,
  type GeometryInit,
  type PowerCutPlan,
  type FlashOpEvent,
  type FlashOpKind,
  type SimFlashOptions,
  type FileFlashOptions,
  ERASED,
  makeGeometry,
  SimFlash,
  FileFlash,
  FlashArea,
  PowerCut,
  isPowerCut,
  rethrowPowerCut,
  addCounters,
  isErased,
} from "./flash.js";
export { Rng, mixSeed } from "./rng.js";
