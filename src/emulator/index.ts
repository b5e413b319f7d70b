// Public surface of the virtual module: the Python runtime, its host-module seam, the virtual clock.
export { VirtualClock, createLinkThrottle, virtualNowFrom } from "./clock.js";
export { HostReply, PyException, registerHostModule, registeredHostModules, type HostContext, type HostHandler, type HostModule, type ModuleIdentity } from "./host.js";
export { PythonSession, runPython, workerFile, type RuntimeOptions, type SessionEnd } from "./runtime.js";
export { BUILTIN_MODULES } from "./shims/index.js";
