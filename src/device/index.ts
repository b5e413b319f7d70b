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
export { BootStore, type BootState, type SlotRecord, type SlotState, type ImageInfo, type JournalRecord, type StoredPackage, type UpdateRecord, type LoadedState } from "./state.js";
export {
  UPDATE_STATES,
  TRANSITIONS,
  LWM2M_STATE,
  LWM2M_STATE_OF,
  nextUpdate,
  findTransition,
  updateFlowMarkdown,
  type UpdateState,
  type UpdateEvent,
  type TransitionRow,
  type UpdateStep,
} from "./flow.js";
export { planLayout, openAreas, STRATEGIES, type Layout, type LayoutPlan, type Region, type Areas, type StrategyName } from "./layout.js";
export { AreaReader, hashArea, areaChunks, ImageWriter, PackageWriter, type RandomAccessReader } from "./io.js";
export { checkPackageFacts, expectDigest, imageInfoOf, type PackageFacts, type PackageHooks, type PackagePipe, type PackageOpener, type InPlaceTarget } from "./package.js";
export { formatPackageOpener, factsOf, type FormatPipeOptions, type DecoderFactory } from "./formatPipe.js";
export { Device, sha256Hex, type DeviceOptions, type ProvisionOptions, type BootResult, type DeviceStatus, type InstallOptions, type Progress, type ByteSource } from "./device.js";
export { LocalUpgrade } from "./local.js";
export { PackageDownload, type DownloadHeader, type DownloadState, type DownloadRecord } from "./download.js";
export * as ab from "./strategies/ab.js";
export * as inplace from "./strategies/inplace.js";
export * as twoStage from "./strategies/two-stage.js";
