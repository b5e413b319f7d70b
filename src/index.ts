// Public library surface of fota. Each part re-exports what device or host code may use.
export * from "./errors.js";
export { DEFAULT_CONFIG, withConfig, type FotaConfig } from "./config.js";
export * from "./device/index.js";
