// The QuecPython-compatible face of fota: model profiles, the idiomatic TypeScript client, the
// `fota` / `app_fota` objects as the module has them, and their host modules for the virtual module.
export {
  type Platform,
  type CallSupport,
  type FotaCall,
  type UrlScheme,
  type LinkType,
  type LinkProfile,
  type FlashSpec,
  type ModelProfile,
  LINKS,
  PROFILES,
  MODELS,
  findProfile,
  requireProfile,
  defaultLinkKbps,
  makeImei,
} from "./profiles.js";
export { layoutFor, geometryFor } from "./layout.js";
export { type PyArg, type PyRaise, type CheckResult, type ParamKind, type ParamRule, type Signature, SIGNATURES, describeJs, checkCall, checkAttribute, checkDownloadPolicy, checkApn, urlScheme } from "./args.js";
export {
  type ArmedImage,
  type LocalSession,
  type EngineInstallOptions,
  type FotaEngine,
  type FotaEvent,
  type DownloadOptions,
  type DownloadResult,
  type FotaClientOptions,
  FotaClient,
  LocalUpgrade as FotaLocalUpgrade,
  fetchSource,
} from "./client.js";
export { type ProvisionModuleOptions, deviceEngine, provisionModule, openModule, runStageTwo } from "./engine.js";
export { type BootSequenceOptions, type BootSequenceReport, bootSequence } from "./boot.js";
export { type FotaCallback, type ApnSettings, type ModuleHost, type InvokeResult, STATUS as FOTA_STATUS, QuecFota, openFota, quecCodeOf, pythonErrorOf } from "./fota.js";
export {
  type StatEntry,
  type BulkItem,
  type AppFotaOptions,
  type InstallOps,
  type InstallReport,
  AppFota,
  installStagedFiles,
  readStat,
  hostPathOf,
  parseBulkInfo,
  UPDATER_DIR,
} from "./app_fota.js";
export { FOTA_MODULE, APP_FOTA_MODULE, QUECPYTHON_MODULES, registerQuecPythonModules, moduleFetchers, moduleFetchOptions, RESTART_DELAY_MS } from "./modules.js";
export { FOTA_PY, APP_FOTA_PY } from "./python.js";
