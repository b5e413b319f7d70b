// Python source of `_fota_rt`, the runtime core inside the virtual module's MicroPython: the bridge
// to the engine on the main thread, the cooperative scheduler of `_thread`, callback delivery, the
// /usr file system and the runner of the application script. Host modules (utime, fota, ...) build
// on it: `_fota_rt.call("fota.httpDownload", ...)` is a blocking call into the engine.
//
// Scheduling model (see docs/emulator.md): MicroPython here has one C stack, so a "thread" runs
// nested on top of the thread that reached a blocking point. Every blocking point goes through
// wait(): it runs queued callbacks and not-yet-started threads, then sleeps in the host until a
// reply, a callback, its deadline or the host's "idle" notice arrives.

export const RUNTIME_PY = String.raw`
import sys, json, uctypes, io
import os as _os
import time as _time
import _fota_host as _h
import _fota_fs as _fs

builtin_os = _os
builtin_time = _time
stderr = sys.stderr

MAIN_TID = 1
_cur = [MAIN_TID]
_next_tid = [MAIN_TID + 1]
_replies = {}
_cbq = []
_new_threads = []
_frames = []
_killed = set()
_live = set([MAIN_TID])
_callables = {}
_next_fn = [1]
# Both come from the host as text (see vnow in worker.ts: a whole number would be cut to 32 bits).
_speed = float(_h.speed())
_boot_ms = float(_h.vnow())

class _ThreadExit(BaseException):
    pass

def vnow():
    return float(_h.vnow())

def boot_ms():
    return _boot_ms

def current():
    return _cur[0]

def err(text):
    stderr.write(text + "\n")

def print_exc(e):
    # A traceback as the module shows it: without the frames of our own runtime and shims.
    buf = io.StringIO()
    sys.print_exception(e, buf)
    for line in buf.getvalue().split("\n"):
        if line and not ('File "/lib/_fota_rt.py"' in line or 'File "/lib/_qp/' in line or 'File "<stdin>"' in line):
            stderr.write(line + "\n")

def _addr(b):
    if isinstance(b, str):
        b = b.encode()
    if not isinstance(b, (bytes, bytearray)):
        b = bytes(b)
    return b, (uctypes.addressof(b) if len(b) else 0), len(b)

def fn_id(f):
    # A number the host can use to call f later (callbacks). None stays None.
    if f is None:
        return None
    for k in _callables:
        if _callables[k] is f:
            return k
    k = _next_fn[0]
    _next_fn[0] = k + 1
    _callables[k] = f
    return k

def _raise(e):
    import builtins
    cls = getattr(builtins, e.get("type", "RuntimeError"), None)
    if cls is None or not isinstance(cls, type):
        cls = RuntimeError
    raise cls(*e.get("args", []))

def _decode(m):
    if "err" in m:
        _raise(m["err"])
    n = m.get("bin")
    if n is None:
        return m.get("ok")
    buf = bytearray(n)
    if n:
        _h.take(m["id"], uctypes.addressof(buf))
    data = bytes(buf)
    if "ok" in m and m["ok"] is not None:
        return (m["ok"], data)
    return data

def post(name, *args, data=None):
    # Fire-and-forget message to the host (no reply).
    if data is None:
        _h.post(0, name, json.dumps(args), 0, 0)
    else:
        data, a, n = _addr(data)
        _h.post(0, name, json.dumps(args), a, n)

def call(name, *args, data=None):
    # Blocking call into the engine: other threads and callbacks run while it waits.
    if data is None:
        i = _h.post(1, name, json.dumps(args), 0, 0)
    else:
        data, a, n = _addr(data)
        i = _h.post(1, name, json.dumps(args), a, n)
    wait(lambda: i in _replies, None, "a call to the engine (" + name + ")", True)
    return _decode(_replies.pop(i))

def _run_cb(seq, fn, args):
    f = _callables.get(fn)
    failed = None
    if f is not None:
        try:
            f(*args)
        except _ThreadExit:
            post("rt.cbdone", seq, "thread stopped")
            raise
        except Exception as e:
            failed = repr(e)
            err("Traceback (most recent call last) in callback " + repr(f) + ":")
            print_exc(e)
    post("rt.cbdone", seq, failed)

def _run_thread(th):
    tid, fn, args, kwargs = th
    prev = _cur[0]
    _cur[0] = tid
    try:
        fn(*args, **kwargs)
    except _ThreadExit:
        pass
    except SystemExit:
        pass
    except BaseException as e:
        err("Unhandled exception in thread started by " + repr(fn))
        print_exc(e)
    finally:
        _cur[0] = prev
        _live.discard(tid)
        _killed.discard(tid)

def _run_one():
    if _cbq:
        seq, fn, args = _cbq.pop(0)
        _run_cb(seq, fn, args)
        return True
    if _new_threads:
        th = _new_threads.pop(0)
        if th[0] in _killed:
            _killed.discard(th[0])
            _live.discard(th[0])
            return True
        _run_thread(th)
        return True
    return False

def _pump(timeout_ms):
    # Wait in the host for one message; False when the host says nothing can happen any more.
    m = _h.poll(timeout_ms)
    if m is None:
        return True
    msg = json.loads(m)
    t = msg["t"]
    if t == "r":
        _replies[msg["id"]] = msg
    elif t == "cb":
        _cbq.append((msg["seq"], msg["fn"], msg["args"]))
    elif t == "idle":
        return False
    return True

def _warn_starved():
    top = len(_frames) - 1
    for k in range(top):
        f = _frames[k]
        if f[4] or f[0] == _frames[top][0]:
            continue
        if f[1]() or (f[2] is not None and vnow() >= f[2]):
            if f[5] is None:
                f[5] = vnow()
            if vnow() - f[5] < 1000:
                continue
            f[4] = True
            err("fota emulate: warning: thread %d could continue, but thread %d runs above it; cooperative _thread resumes thread %d only when thread %d has finished (see docs/emulator.md)" % (f[0], _frames[top][0], f[0], _frames[top][0]))

def check_killed():
    if _cur[0] in _killed:
        _killed.discard(_cur[0])
        raise _ThreadExit()

def wait(ready, deadline=None, what="an event", killable=True, idle_ok=False):
    # The one blocking primitive. True when ready() holds, False at the virtual deadline, None when
    # idle_ok and nothing can happen any more; otherwise a wait that can never end raises.
    frame = [_cur[0], ready, deadline, what, False, None]
    _frames.append(frame)
    try:
        while True:
            if killable:
                check_killed()
            if ready():
                return True
            # A blocking point always lets queued callbacks and new threads run, even when its own
            # deadline has already passed (as a sleep yields on the module).
            if _run_one():
                continue
            if deadline is not None and vnow() >= deadline:
                return False
            if len(_frames) > 1:
                _warn_starved()
            if deadline is None:
                to = -1
            else:
                to = (deadline - vnow()) / _speed
                if to < 0:
                    to = 0
            if not _pump(to):
                if ready():
                    return True
                if idle_ok:
                    return None
                below = []
                for f in _frames[:-1]:
                    if f[0] != _cur[0] and f[0] not in below:
                        below.append(f[0])
                hint = ""
                if below:
                    hint = " (threads suspended below it: %s; cooperative _thread runs them again only when thread %d has finished, see docs/emulator.md)" % (", ".join([str(t) for t in below]), _cur[0])
                raise RuntimeError("deadlock: thread %d waits for %s, and nothing left in the module can end that wait%s" % (_cur[0], what, hint))
    finally:
        _frames.pop()

def sleep_ms(ms):
    if ms <= 0:
        check_killed()
        _run_one()
        return
    wait(lambda: False, vnow() + ms, "sleep")

def start_thread(fn, args, kwargs):
    tid = _next_tid[0]
    _next_tid[0] = tid + 1
    _live.add(tid)
    _new_threads.append((tid, fn, args, kwargs))
    return tid

def kill_thread(tid):
    if tid in _live and tid != _cur[0]:
        _killed.add(tid)
        return True
    return False

def thread_alive(tid):
    return tid in _live

# ---------------------------------------------------------------- errno mapping (Emscripten -> MicroPython)
# MicroPython's errno module lacks some names; these are the numbers it (and QuecPython) use.
_EMS = {44: 2, 20: 17, 54: 20, 31: 21, 55: 39, 2: 13, 28: 22, 8: 9, 51: 28}

def in_usr(p):
    if not isinstance(p, str):
        return False
    if not p.startswith("/"):
        p = _os.getcwd() + "/" + p
    return p == "/usr" or p.startswith("/usr/")

def fix_oserror(e, path=None):
    # Errors from /usr already carry MicroPython's numbers; the in-memory rest carries Emscripten's.
    if in_usr(path):
        return e
    if isinstance(e, OSError) and e.args and isinstance(e.args[0], int) and e.args[0] in _EMS:
        return OSError(_EMS[e.args[0]])
    return e

# ---------------------------------------------------------------- /usr: a live mount of the host's DIR/usr
def _chk(r):
    if isinstance(r, int) and r < 0:
        raise OSError(-r)
    return r

class _HostFile(io.IOBase):
    def __init__(self, fd, binary, append, name):
        self._fd = fd
        self._bin = binary
        self._pos = _fs.size(fd) if append else 0
        self._closed = False
        self.name = name
    def _need(self):
        if self._closed:
            raise ValueError("I/O operation on closed file")
    def readinto(self, buf):
        self._need()
        n = len(buf)
        if n == 0:
            return 0
        got = _chk(_fs.readinto(self._fd, self._pos, uctypes.addressof(buf), n))
        self._pos += got
        return got
    def read(self, n=-1):
        self._need()
        if n is None or n < 0:
            n = _fs.size(self._fd) - self._pos
            if n < 0:
                n = 0
        buf = bytearray(n)
        got = self.readinto(buf) if n else 0
        data = bytes(buf) if got == n else bytes(memoryview(buf)[:got])
        return data if self._bin else data.decode()
    def readline(self, limit=-1):
        self._need()
        out = bytearray()
        while limit < 0 or len(out) < limit:
            chunk = bytearray(128)
            got = self.readinto(chunk)
            if got == 0:
                break
            k = bytes(chunk[:got]).find(b"\n")
            if k >= 0:
                out += chunk[:k + 1]
                self._pos -= got - (k + 1)
                break
            out += chunk[:got]
        if limit >= 0 and len(out) > limit:
            self._pos -= len(out) - limit
            out = out[:limit]
        return bytes(out) if self._bin else bytes(out).decode()
    def readlines(self):
        out = []
        while True:
            l = self.readline()
            if not l:
                return out
            out.append(l)
    def __iter__(self):
        return self
    def __next__(self):
        l = self.readline()
        if not l:
            raise StopIteration
        return l
    def write(self, b):
        self._need()
        if isinstance(b, str):
            if self._bin:
                raise TypeError("a bytes-like object is required")
            b = b.encode()
        b, a, n = _addr(b)
        if n == 0:
            return 0
        put = _chk(_fs.write(self._fd, self._pos, a, n))
        self._pos += put
        return put
    def seek(self, off, whence=0):
        self._need()
        if whence == 1:
            off += self._pos
        elif whence == 2:
            off += _fs.size(self._fd)
        if off < 0:
            raise OSError(22)
        self._pos = off
        return off
    def tell(self):
        return self._pos
    def flush(self):
        pass
    def close(self):
        if not self._closed:
            self._closed = True
            _fs.close(self._fd)
    def ioctl(self, req, arg):
        if req == 4:
            self.close()
        return 0
    def __enter__(self):
        return self
    def __exit__(self, *a):
        self.close()
    def __del__(self):
        self.close()

class HostVfs:
    # MicroPython VFS protocol over the host directory; paths arrive relative to the mount point.
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def _p(self, p):
        return p if p.startswith("/") else "/" + p
    def ilistdir(self, p):
        for name, kind, size in json.loads(_chk_s(_fs.listdir(self._p(p)))):
            yield (name, 0x4000 if kind == "d" else 0x8000, 0, size)
    def stat(self, p):
        r = json.loads(_chk_s(_fs.stat(self._p(p))))
        return (r[0], 0, 0, 1, 0, 0, r[1], r[2], r[2], r[2])
    def statvfs(self, p):
        return (4096, 4096, 16384, 8192, 8192, 0, 0, 0, 0, 255)
    def open(self, p, mode):
        binary = "b" in mode
        append = "a" in mode
        fd = _chk(_fs.open(self._p(p), mode))
        return _HostFile(fd, binary, append, "/usr" + self._p(p))
    def remove(self, p):
        _chk(_fs.remove(self._p(p)))
    def rmdir(self, p):
        _chk(_fs.rmdir(self._p(p)))
    def mkdir(self, p):
        _chk(_fs.mkdir(self._p(p)))
    def rename(self, a, b):
        _chk(_fs.rename(self._p(a), self._p(b)))
    def chdir(self, p):
        st = self.stat(p)
        if not st[0] & 0x4000:
            raise OSError(20)
    def getcwd(self):
        return ""

def _chk_s(r):
    if isinstance(r, int):
        raise OSError(-r)
    return r

# ---------------------------------------------------------------- host modules and the script runner
_HIDDEN = ("js", "jsffi", "_fota_host", "_fota_fs", "pyscript")

def install(names, aliases_of, exported):
    # Import each shim from /lib/_qp/ and publish it under its QuecPython names.
    sys.path.insert(0, "/lib/_qp")
    try:
        for name in names:
            mod = __import__("_qp_" + name)
            obj = getattr(mod, "_EXPORT") if exported.get(name) else mod
            for n in [name] + aliases_of.get(name, []):
                sys.modules[n] = obj
    finally:
        sys.path.pop(0)

def _hide_modules():
    import builtins
    real = builtins.__import__
    def imp(name, *a, **k):
        if name in _HIDDEN or name.split(".")[0] in _HIDDEN:
            raise ImportError("no module named '%s'" % name)
        return real(name, *a, **k)
    builtins.__import__ = imp

def _open_fixed():
    import builtins
    real = builtins.open
    def open(*a, **k):
        try:
            return real(*a, **k)
        except OSError as e:
            raise fix_oserror(e, a[0] if a else k.get("file"))
    builtins.open = open

def mount_usr():
    try:
        _os.mkdir("/usr")
    except OSError:
        pass
    _os.mount(HostVfs(), "/usr")
    _os.chdir("/usr")

def run_main(name):
    src = _h.script()
    g = {"__name__": "__main__", "__file__": name}
    status = 0
    _hide_modules()
    _open_fixed()
    try:
        exec(compile(src, name, "exec"), g)
    except SystemExit as e:
        c = e.args[0] if e.args else 0
        status = c if isinstance(c, int) else (0 if c is None else 1)
        if not isinstance(c, int) and c is not None:
            err(str(c))
    except _ThreadExit:
        status = 0
    except BaseException as e:
        print_exc(e)
        status = 1
    post("rt.scriptend", status)
    # The module stays on: threads, callbacks and the engine's background work go on until nothing
    # can happen any more (or the engine restarts the module).
    while True:
        try:
            if wait(lambda: False, None, "background work", False, True) is None:
                break
        except _ThreadExit:
            pass
    return status
`;
