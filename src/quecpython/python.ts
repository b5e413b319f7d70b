// Python source of the `fota` and `app_fota` shims that run inside the virtual module's MicroPython.
// They are thin: every rule (keyword-only arguments, types, which methods a model has, return
// codes, callbacks) is decided on the main thread by QuecFota / AppFota (fota.ts, app_fota.ts),
// reached through the emulator runtime's blocking `_fota_rt.call`.

/**
 * `import fota` yields the `fota` class itself, as on the module. The class is a singleton: every
 * `fota(...)` returns the same object and re-initialises it. Arguments travel as (type name, value)
 * pairs so the host applies the module's own conversions and raises its TypeErrors.
 */
export const FOTA_PY = String.raw`
import _fota_rt as _rt

_HAS = _rt.call("fota.profile")["present"]

def _d(v):
    if v is None:
        return ["NoneType", None]
    t = type(v).__name__
    if t in ("str", "int", "bool", "float"):
        return [t, v]
    return [t, None]

def _pos(args):
    return [_d(a) for a in args]

def _kw(kw):
    out = {}
    for k in kw:
        out[k] = _d(kw[k])
    return out

def _call(name, args, kw, cb=None, data=None):
    if data is None:
        return _rt.call("fota.call", name, _pos(args), _kw(kw), _rt.fn_id(cb))
    return _rt.call("fota.call", name, _pos(args), _kw(kw), _rt.fn_id(cb), data=data)

class fota:
    _one = None

    def __new__(cls, *args, **kw):
        if fota._one is None:
            fota._one = object.__new__(cls)
        return fota._one

    def __init__(self, *args, **kw):
        _rt.call("fota.init", _pos(args), _kw(kw))

    def httpDownload(self, *args, **kw):
        return _call("httpDownload", args, kw, kw.get("callback"))

    if "apn_set" in _HAS:
        def apn_set(self, *args, **kw):
            return _call("apn_set", args, kw)

    if "download_cancel" in _HAS:
        def download_cancel(self, *args, **kw):
            return _call("download_cancel", args, kw)

    def write(self, *args, **kw):
        data = None
        if args and isinstance(args[0], (bytes, bytearray, memoryview, str)):
            data = args[0]
        return _call("write", args, kw, None, data)

    def flush(self, *args, **kw):
        return _call("flush", args, kw)

    def verify(self, *args, **kw):
        return _call("verify", args, kw)

_EXPORT = fota
`;

/** `app_fota`: `new()` and the object's download / bulk_download / set_update_flag / update. */
export const APP_FOTA_PY = String.raw`
import _fota_rt as _rt

class _AppFota:
    def download(self, url, file_name):
        return _rt.call("app_fota.download", url, file_name)

    def bulk_download(self, info=[]):
        return _rt.call("app_fota.bulk_download", info)

    def set_update_flag(self):
        _rt.call("app_fota.set_update_flag")

    def update(self):
        _rt.call("app_fota.update")

def new():
    return _AppFota()
`;
