// Public library surface of fota. Each part re-exports what device or host code may use.
export * from "./errors.js";
export { DEFAULT_CONFIG, withConfig, type FotaConfig } from "./config.js";
export * from "./format/index.js";
// Both format and device name these shared shapes; the format ones are the contract.
export type { RandomAccessReader, DecoderFactory } from "./format/index.js";
export * from "./device/index.js";
export {
  createDelta,
  createDeltaDecoder,
  createInPlaceApplier,
  openPayloadDecoder,
  applyDelta,
  peekDeltaHeader,
  DELTA_ALGORITHMS,
  DeltaDecoder,
  MemoryRegion,
  FILTER_NAMES as DELTA_FILTERS,
  type CreateDeltaOptions,
  type CreateDeltaDecoderOptions,
  type DeltaResult,
  type DeltaDecoderOptions,
  type InPlaceRegion,
  type InPlaceSink,
} from "./delta/index.js";
export {
  fetchTo,
  fetchToFile,
  fetchToBuffer,
  FileSink,
  MemorySink,
  FileJournal,
  MemoryJournal,
  type ByteSink,
  type DownloadJournal,
  type Fetcher,
  type FetchOptions,
  type FetchProgress,
  type FetchEvent,
  type FetchResult,
} from "./transport/index.js";
export * from "./emulator/index.js";
export * from "./quecpython/index.js";
