// Python sources of the built-in QuecPython modules of the virtual module (host side in index.ts).
// Written for MicroPython 1.27 (wasm): no f-strings with nested quotes, no int.bit_length.

export const UTIME_PY = String.raw`
import _fota_rt as _rt

_PERIOD = 1 << 30
_tz = [0]

def ticks_ms():
    return int(_rt.vnow() - _rt.boot_ms()) & (_PERIOD - 1)

def ticks_us():
    return int((_rt.vnow() - _rt.boot_ms()) * 1000) & (_PERIOD - 1)

def ticks_cpu():
    return ticks_us()

def ticks_add(t, delta):
    return (t + delta) & (_PERIOD - 1)

def ticks_diff(t1, t2):
    d = (t1 - t2) & (_PERIOD - 1)
    if d >= _PERIOD // 2:
        d -= _PERIOD
    return d

def sleep(seconds):
    _rt.sleep_ms(seconds * 1000)

def sleep_ms(ms):
    _rt.sleep_ms(ms)

def sleep_us(us):
    _rt.sleep_ms(us / 1000)

def time():
    return int(_rt.vnow() // 1000)

def time_ns():
    return int(_rt.vnow() * 1000000)

def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468

def _civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (y + (m <= 2), m, d)

def gmtime(secs=None):
    if secs is None:
        secs = time()
    secs = int(secs)
    days = secs // 86400
    rem = secs - days * 86400
    y, m, d = _civil_from_days(days)
    wday = (days + 3) % 7
    yday = days - _days_from_civil(y, 1, 1) + 1
    return (y, m, d, rem // 3600, (rem // 60) % 60, rem % 60, wday, yday)

def localtime(secs=None):
    if secs is None:
        secs = time()
    return gmtime(int(secs) + _tz[0] * 3600)

def mktime(t):
    y, m, d, hh, mm, ss = t[0], t[1], t[2], t[3], t[4], t[5]
    return _days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss - _tz[0] * 3600

def getTimeZone():
    return _tz[0]

def setTimeZone(offset):
    if not isinstance(offset, int) or offset < -12 or offset > 12:
        raise ValueError("invalid value, timezone should be in [-12, 12]")
    _tz[0] = offset
    return 0
`;

export const LOG_PY = String.raw`
import sys

NOTSET = 0
DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40
CRITICAL = 50
_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARN", ERROR: "ERROR", CRITICAL: "CRIT"}
_cfg = {"level": INFO, "out": sys.stderr}
_loggers = {}

def basicConfig(level=INFO, filename=None, stream=None, format=None):
    _cfg["level"] = level
    if filename is not None:
        print("log: filename is not supported")
    if format is not None:
        print("log: format is not supported")
    if stream is not None:
        set_output(stream)

def set_output(out):
    if out is not sys.stdout and out is not sys.stderr and not hasattr(out, "write"):
        raise TypeError("output must be sys.stdout, sys.stderr or a UART")
    _cfg["out"] = out

class Logger:
    def __init__(self, name):
        self.name = name
        self.level = NOTSET

    def setLevel(self, level):
        self.level = level

    def isEnabledFor(self, level):
        return level >= (self.level or _cfg["level"])

    def log(self, level, msg, *args):
        if not self.isEnabledFor(level):
            return
        if args:
            msg = msg % args
        _cfg["out"].write("%s:%s:%s\n" % (_NAMES.get(level, str(level)), self.name, msg))

    def debug(self, msg, *args):
        self.log(DEBUG, msg, *args)

    def info(self, msg, *args):
        self.log(INFO, msg, *args)

    def warning(self, msg, *args):
        self.log(WARNING, msg, *args)

    warn = warning

    def error(self, msg, *args):
        self.log(ERROR, msg, *args)

    def critical(self, msg, *args):
        self.log(CRITICAL, msg, *args)

    def exception(self, msg, *args):
        self.log(ERROR, msg, *args)

def getLogger(name="root"):
    if name not in _loggers:
        _loggers[name] = Logger(name)
    return _loggers[name]

def debug(msg, *args):
    getLogger().debug(msg, *args)

def info(msg, *args):
    getLogger().info(msg, *args)

def warning(msg, *args):
    getLogger().warning(msg, *args)

def error(msg, *args):
    getLogger().error(msg, *args)

def critical(msg, *args):
    getLogger().critical(msg, *args)
`;

export const MISC_PY = String.raw`
import _fota_rt as _rt

class Power:
    @staticmethod
    def powerRestart():
        _rt.call("misc.powerRestart")

    @staticmethod
    def powerDown():
        _rt.call("misc.powerDown")

    @staticmethod
    def powerOnReason():
        return _rt.call("misc.powerOnReason")

    @staticmethod
    def powerDownReason():
        return 1

    @staticmethod
    def getVbatt():
        return 3800

def replyDefault():
    return 0
`;

export const UOS_PY = String.raw`
import _fota_rt as _rt
_os = _rt.builtin_os

def _wrap(f):
    def g(*a):
        try:
            return f(*a)
        except OSError as e:
            raise _rt.fix_oserror(e, a[0] if a else _os.getcwd())
    return g

listdir = _wrap(_os.listdir)
ilistdir = _wrap(_os.ilistdir)
stat = _wrap(_os.stat)
statvfs = _wrap(_os.statvfs)
remove = _wrap(_os.remove)
rename = _wrap(_os.rename)
mkdir = _wrap(_os.mkdir)
rmdir = _wrap(_os.rmdir)
chdir = _wrap(_os.chdir)
getcwd = _os.getcwd
mount = _os.mount
umount = _os.umount
sep = "/"

def urandom(n):
    return _rt.call("uos.urandom", n)

def uname():
    return _rt.call("uos.uname")

def uname2():
    return tuple(_rt.call("uos.uname"))

def sync():
    pass
`;

export const THREAD_PY = String.raw`
import _fota_rt as _rt
import gc

_stack = [8192]

def start_new_thread(function, args, kwargs=None):
    if not callable(function):
        raise TypeError("function must be callable")
    if not isinstance(args, tuple):
        raise TypeError("expecting a tuple for args")
    return _rt.start_thread(function, args, kwargs or {})

def get_ident():
    return _rt.current()

def stack_size(size=None):
    old = _stack[0]
    if size is not None:
        _stack[0] = size
    return old

def stop_thread(thread_id):
    _rt.kill_thread(thread_id)
    return 0

def threadIsRunning(thread_id):
    return _rt.thread_alive(thread_id)

def get_heap_size():
    return gc.mem_free()

class LockType:
    def __init__(self):
        self._held = False
        self._owner = None

    def acquire(self, waitflag=1, timeout=-1):
        if not self._held:
            self._held = True
            self._owner = _rt.current()
            return True
        if not waitflag:
            return False
        deadline = None if timeout is None or timeout < 0 else _rt.vnow() + timeout * 1000
        what = "a lock held by thread %s" % self._owner
        ok = _rt.wait(lambda: not self._held, deadline, what)
        if not ok:
            return False
        self._held = True
        self._owner = _rt.current()
        return True

    def release(self):
        if not self._held:
            raise RuntimeError("release unlocked lock")
        self._held = False
        self._owner = None

    def locked(self):
        return self._held

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *a):
        self.release()

def allocate_lock():
    return LockType()

def delete_lock(lock):
    pass

class Semaphore:
    def __init__(self, count):
        self._n = count

    def acquire(self, waitflag=1, timeout=-1):
        if self._n > 0:
            self._n -= 1
            return True
        if not waitflag:
            return False
        deadline = None if timeout is None or timeout < 0 else _rt.vnow() + timeout * 1000
        if not _rt.wait(lambda: self._n > 0, deadline, "a semaphore"):
            return False
        self._n -= 1
        return True

    def release(self):
        self._n += 1

    def getCnt(self):
        return self._n

def allocate_semphore(initcount):
    return Semaphore(initcount)

def delete_semphore(s):
    pass
`;

export const MODEM_PY = String.raw`
import _fota_rt as _rt

def getDevFwVersion():
    return _rt.call("modem.info")["fw"]

def getDevImei():
    return _rt.call("modem.info")["imei"]

def getDevModel():
    return _rt.call("modem.info")["model"]

def getDevSN():
    return _rt.call("modem.info")["sn"]

def getDevProductId():
    return "Quectel"
`;

export const CHECKNET_PY = String.raw`
import _fota_rt as _rt

def waitNetworkReady(timeout=60):
    if not isinstance(timeout, int) or timeout < 1 or timeout > 3600:
        raise ValueError("timeout should be in [1, 3600]")
    return tuple(_rt.call("checkNet.wait", timeout))

def wait_network_connected(timeout_s=60):
    return waitNetworkReady(timeout_s)

class CheckNetwork:
    def __init__(self, project_name="", project_version=""):
        self.name = project_name
        self.version = project_version

    def poweron_print_once(self):
        print("PROJECT_NAME: %s, PROJECT_SOFT_VERSION: %s" % (self.name, self.version))

    def wait_network_connected(self, timeout_s=60):
        return waitNetworkReady(timeout_s)
`;

export const UZLIB_PY = String.raw`
import deflate as _d
import io as _io

def _fmt(wbits):
    if wbits < 0:
        return _d.RAW, -wbits
    if wbits >= 16 + 8:
        return _d.GZIP, wbits - 16
    if wbits >= 8:
        return _d.ZLIB, wbits
    return _d.AUTO, 0

def decompress(data, wbits=15, bufsize=0):
    f, w = _fmt(wbits)
    with _d.DeflateIO(_io.BytesIO(data), f, w) as s:
        return s.read()

class DecompIO:
    def __init__(self, stream, wbits=0):
        f, w = _fmt(wbits)
        self._s = _d.DeflateIO(stream, f, w)

    def read(self, *n):
        return self._s.read(*n)

    def readinto(self, buf):
        return self._s.readinto(buf)

    def readline(self):
        return self._s.readline()
`;

export const QUEUE_PY = String.raw`
import _fota_rt as _rt

class Queue:
    def __init__(self, maxsize=100):
        self._max = maxsize
        self._items = []

    def put(self, data=None):
        if self._max > 0 and len(self._items) >= self._max:
            _rt.wait(lambda: len(self._items) < self._max, None, "room in a full queue")
        self._items.append(data)
        return True

    def get(self):
        if not self._items:
            _rt.wait(lambda: len(self._items) > 0, None, "an item in an empty queue")
        return self._items.pop(0)

    def empty(self):
        return not self._items

    def size(self):
        return len(self._items)
`;

export const OSTIMER_PY = String.raw`
import _fota_rt as _rt

class osTimer:
    def __init__(self):
        self._id = _rt.call("osTimer.create")

    def start(self, initialTime, cyclialEn, callback):
        return _rt.call("osTimer.start", self._id, initialTime, 1 if cyclialEn else 0, _rt.fn_id(callback))

    def stop(self):
        return _rt.call("osTimer.stop", self._id)

    def delete_timer(self):
        return _rt.call("osTimer.stop", self._id)

_EXPORT = osTimer
`;
