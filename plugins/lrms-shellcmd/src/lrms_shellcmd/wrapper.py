"""Job wrapper of the lrms ``shellcmd`` backend (stdlib only, Python 3.8+).

The same file is used in two ways:

* locally it is imported and :func:`launch` forks the running interpreter, so
  starting a job costs a couple of fork() calls instead of a new interpreter;
* remotely it is uploaded and run as ``python3 -I -S wrapper.py COMMAND ...``
  (see :func:`main`); every command prints JSON on stdout.

Layout (all paths absolute)::

    SPOOL/lock              flock(2) file guarding SPOOL/active
    SPOOL/active/<jobid>    {"cores": n, "boot_id": "..."}, one per job holding a slot
    SANDBOX/.lrms/job.json  job description, written by the caller before launch
    SANDBOX/.lrms/launched  {"wrapper_pid"}, written by launch() and by the wrapper first
    SANDBOX/.lrms/started   {"start", "wrapper_pid", "pgid"}, written by the wrapper
    SANDBOX/.lrms/status.json  final state, written atomically when the job ended
    SANDBOX/.lrms/cancel    cancel marker, written by cancel()

Job state is only ever derived from these files, never from whether a PID is
alive.  The code that runs in forked children uses os-level calls only, never
raises out and always leaves through ``os._exit``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import resource  # noqa: F401  (os.wait4 imports it lazily; never import in a forked child)
import signal
import sys
import time

CONTROL_DIR = ".lrms"
DEFAULT_GRACE = 5.0

# Signals the wrapper waits for; blocked from the first fork on, so a SIGTERM
# sent before the wrapper is ready stays pending instead of killing it.
_WAIT_SIGNALS = {signal.SIGTERM, signal.SIGCHLD}
_IGNORE_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE)
# Dispositions reset to SIG_DFL in the job child (SIG_IGN survives exec).
_RESET_SIGNALS = tuple(
    s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)
)
_HAVE_SIGTIMEDWAIT = hasattr(signal, "sigtimedwait")
_HAVE_WAITID = hasattr(os, "waitid") and hasattr(os, "WNOWAIT")
_USE_POSIX_SPAWN = hasattr(os, "posix_spawnp")
_POLL_INTERVAL = 0.05  # only used where sigtimedwait() is unavailable

_boot_id_cache: str | None = None


# --------------------------------------------------------------------------
# small file helpers


def _read_json(path: str) -> object:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return json.loads(b"".join(chunks).decode("utf-8"))


def _write_atomic(path: str, data: dict) -> None:
    """Write JSON to ``path`` via a temporary file and os.replace().

    The temporary name starts with a dot, so directory scans skip it.
    """
    head, tail = os.path.split(path)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.tmp")
    payload = json.dumps(data).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _boot_id() -> str:
    global _boot_id_cache
    if _boot_id_cache is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot_id_cache = f.read().strip()
        except OSError:
            _boot_id_cache = "unknown"
    return _boot_id_cache


def _check_jobid(jobid: str) -> None:
    if (
        not isinstance(jobid, str)
        or not jobid
        or "/" in jobid
        or "\0" in jobid
        or jobid.startswith(".")
    ):
        raise ValueError(f"invalid job id: {jobid!r}")


# --------------------------------------------------------------------------
# slot accounting


def _scan_active(active: str, boot: str, purge: bool) -> dict:
    """Return {jobid: cores} of the valid entries in ``active``.

    Entries of another boot (or unreadable ones) are skipped, and deleted if
    ``purge`` (only done while holding the lock).
    """
    try:
        names = os.listdir(active)
    except FileNotFoundError:
        return {}
    entries = {}
    for name in names:
        if name.startswith("."):
            continue
        path = os.path.join(active, name)
        try:
            entry = _read_json(path)
            cores = int(entry["cores"])
            ok = entry.get("boot_id") == boot
        except FileNotFoundError:
            continue
        except (ValueError, TypeError, KeyError, AttributeError, OSError):
            ok = False
        if ok:
            entries[name] = cores
        elif purge:
            _unlink(path)
    return entries


def reserve(spool: str, jobid: str, cores: int, max_cores: int) -> bool:
    """Atomically take ``cores`` slots for ``jobid`` if at most ``max_cores`` get used.

    Entries left over from a previous boot are deleted.  Re-reserving an
    existing ``jobid`` replaces its entry.  Returns False if it does not fit.
    """
    _check_jobid(jobid)
    cores = int(cores)
    active = os.path.join(spool, "active")
    boot = _boot_id()
    fd = os.open(os.path.join(spool, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not os.path.isdir(active):
            os.makedirs(active, 0o700, exist_ok=True)
        entries = _scan_active(active, boot, purge=True)
        entries.pop(jobid, None)
        if sum(entries.values()) + cores > max_cores:
            return False
        _write_atomic(os.path.join(active, jobid), {"cores": cores, "boot_id": boot})
        return True
    finally:
        os.close(fd)  # also drops the flock


def release(spool: str, jobid: str) -> None:
    """Give back the slots of ``jobid`` (no-op if it holds none)."""
    _check_jobid(jobid)
    _unlink(os.path.join(spool, "active", jobid))


def _memtotal() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def usage(spool: str) -> dict:
    """Return {"used_cores", "running", "cpus", "memory_bytes"} of this host/spool."""
    entries = _scan_active(os.path.join(spool, "active"), _boot_id(), purge=False)
    return {
        "used_cores": sum(entries.values()),
        "running": len(entries),
        "cpus": os.cpu_count(),
        "memory_bytes": _memtotal(),
    }


# --------------------------------------------------------------------------
# launching


def _job_spec(job: dict, sandbox: str) -> dict:
    """Validate job.json (in the caller, so errors raise there) and resolve paths."""
    if not isinstance(job, dict):
        raise ValueError("job.json: not an object")
    _check_jobid(job.get("jobid"))
    argv = job.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("job.json: argv must be a non-empty list of strings")
    env = job.get("environment") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k for k, v in env.items()
    ):
        raise ValueError("job.json: environment must map names to strings")
    stdout = job.get("stdout") or "stdout"
    stderr = job.get("stderr") or "stderr"
    stdin = job.get("stdin")
    walltime = job.get("walltime")
    grace = job.get("grace")
    return {
        "jobid": job["jobid"],
        "argv": argv,
        "env": env,
        "stdin": os.path.join(sandbox, stdin) if stdin else os.devnull,
        "stdout": os.path.join(sandbox, stdout),
        "stderr": os.path.join(sandbox, stderr),
        "walltime": float(walltime) if walltime is not None else None,
        "grace": float(grace) if grace is not None else DEFAULT_GRACE,
    }


def launch(spool: str, sandbox: str) -> int:
    """Start the job of ``sandbox`` under a detached wrapper; return the wrapper's pid.

    Forks the current interpreter once; the child calls setsid() and becomes
    the wrapper, so this returns at once.  The wrapper stays this process's
    child until it ends (it is reaped by later calls, or re-parented when this
    process exits).  The slot must have been reserved by the caller; the
    wrapper releases it when the job ends.  Raises (without starting
    anything) if job.json is unusable; the caller then still owns the
    reservation.
    """
    spec = _job_spec(_read_json(os.path.join(sandbox, CONTROL_DIR, "job.json")), sandbox)
    _reap()
    # The wrapper's signals are blocked from the fork on, so a SIGTERM sent
    # before it is ready stays pending instead of killing it.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WAIT_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:  # the wrapper
            try:
                os.setsid()
                _wrapper(spool, sandbox, spec)  # never returns
            finally:
                os._exit(1)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    _children.add(pid)
    # The wrapper writes this too, first thing (in case this process dies now); written
    # here as well, find() sees the job as soon as launch() has returned.
    with contextlib.suppress(OSError):
        _write_atomic(os.path.join(sandbox, CONTROL_DIR, "launched"), {"wrapper_pid": pid})
    return pid


_children: set = set()  # wrappers forked by this process and not reaped yet


def _reap() -> None:
    """Collect wrappers of this process that have exited (no zombies pile up)."""
    for pid in list(_children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere, or SIGCHLD ignored
            done = pid
        if done:
            _children.discard(pid)


def _close_fds(keep: tuple = ()) -> None:
    """Close every fd >= 3 except ``keep``."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        try:
            names = os.listdir("/dev/fd")
        except OSError:
            names = None
    if names is None:
        last = 3
        for fd in [*sorted(keep), 65536]:
            if fd >= last:
                os.closerange(last, fd)
                last = fd + 1
        return
    for name in names:
        fd = int(name)
        if fd >= 3 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _log(ctl: str, message: str) -> None:
    try:
        fd = os.open(
            os.path.join(ctl, "wrapper.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
            0o600,
        )
        try:
            os.write(fd, (f"{time.time():.3f} {message}\n").encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except BaseException:  # noqa: S110  (best effort; nowhere else to report)
        pass


def _wrapper(spool: str, sandbox: str, spec: dict) -> None:
    """Body of the detached wrapper process (a fork of the caller). Never returns."""
    ctl = os.path.join(sandbox, CONTROL_DIR)
    state = {"pgid": None, "start": None}
    try:
        gc.disable()  # no finalizers of the parent's objects closing reused fds
        # First of all, so that find() sees the job even if the caller dies now.
        _write_atomic(os.path.join(ctl, "launched"), {"wrapper_pid": os.getpid()})
        fd = os.open(os.devnull, os.O_RDWR)
        for i in (0, 1, 2):
            if fd != i:
                os.dup2(fd, i)
        if fd > 2:
            os.close(fd)
        _close_fds()
        for sig in _IGNORE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # SIG_IGN would auto-reap the job
        signal.pthread_sigmask(signal.SIG_BLOCK, _WAIT_SIGNALS)
        os.chdir(sandbox)
        result = _supervise(ctl, spec, state)
    except BaseException as exc:
        msg = f"wrapper error: {type(exc).__name__}: {exc}"
        _log(ctl, msg)
        if state["pgid"] is not None:
            _killpg(state["pgid"], signal.SIGKILL)
        now = time.time()
        start = state["start"] or now
        result = {
            "exitcode": 126,
            "signal": None,
            "start": start,
            "end": now,
            "walltime": now - start,
            "cputime": 0.0,
            "maxrss_kib": 0,
            "reason": "failed",
            "error": msg,
        }
    try:
        release(spool, spec["jobid"])  # before status.json: "ended" implies "slot free"
    except BaseException as exc:
        _log(ctl, f"release failed: {exc!r}")
    try:
        _write_atomic(os.path.join(ctl, "status.json"), result)
    except BaseException as exc:
        _log(ctl, f"writing status.json failed: {exc!r}")
    os._exit(0)


def _open_stdio(spec: dict) -> tuple:
    """Open the job's stdin, stdout, stderr in the wrapper (close-on-exec fds)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    fds: list = []
    try:
        for key in ("stdin", "stdout", "stderr"):
            what = key
            if key == "stdin":
                fds.append(os.open(spec[key], os.O_RDONLY | os.O_CLOEXEC))
            elif key == "stderr" and spec["stderr"] == spec["stdout"]:
                fds.append(fds[1])  # joined: one open file, one offset
            else:
                fds.append(os.open(spec[key], flags, 0o666))
    except OSError as exc:
        for fd in set(fds):
            os.close(fd)
        raise _SetupError(f"cannot open {what} file {exc.filename!r}: {exc.strerror}") from None
    return tuple(fds)


class _SetupError(Exception):
    pass


def _job_env(spec: dict) -> os._Environ | dict:
    if not spec["env"]:
        return os.environ
    env = dict(os.environ)
    env.update(spec["env"])
    return env


def _spawn(argv: list[str], env: os._Environ | dict, stdio: tuple) -> int:
    """Start the job with posix_spawn (vfork+exec in libc: cheap, reports exec errors).

    The child gets its own process group, an empty signal mask and default
    dispositions.  Raises OSError if the program cannot be executed.
    """
    kwargs = {
        "file_actions": [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)],
        "setpgroup": 0,
        "setsigmask": (),
        "setsigdef": _RESET_SIGNALS,
    }
    name = argv[0]
    if "/" in name or env is os.environ or env.get("PATH") == os.environ.get("PATH"):
        return os.posix_spawnp(name, argv, env, **kwargs)
    # The job sets its own PATH: look the program up in *that* PATH, like
    # execvpe() does (libc's posix_spawnp would search the wrapper's PATH).
    saved = None
    for directory in os.get_exec_path(env) if name else ():
        path = os.path.join(directory, name)
        if not os.path.exists(path):  # a stat() is cheaper than a failed spawn
            continue
        try:
            return os.posix_spawn(path, argv, env, **kwargs)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR) and saved is None:
                saved = exc
    raise saved or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _fork_exec(argv: list[str], env: os._Environ | dict, stdio: tuple) -> tuple:
    """Fallback without posix_spawn: fork + exec, exec errors come back through a
    close-on-exec pipe.  Returns (pid, read end of that pipe)."""
    errr, errw = os.pipe()  # both close-on-exec
    pid = os.fork()
    if pid == 0:
        _exec_child(argv, env, stdio, errw)  # never returns
    os.close(errw)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever comes first
    return pid, errr


def _exec_child(argv: list[str], env: os._Environ | dict, stdio: tuple, errw: int) -> None:
    """Body of the forked job child (fallback path). Never returns."""
    try:
        os.setpgid(0, 0)
        for sig in _RESET_SIGNALS:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                signal.signal(sig, signal.SIG_DFL)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)  # the copy is inheritable
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        os.execvpe(argv[0], argv, env)  # noqa: S606
    except BaseException as exc:
        code = getattr(exc, "errno", None) or 0
        with contextlib.suppress(BaseException):
            os.write(errw, f"{code}:{getattr(exc, 'strerror', None) or exc}".encode())
        os._exit(127 if code == errno.ENOENT else 126)
    os._exit(126)


def _failed(start: float, exitcode: int, error: str) -> dict:
    now = time.time()
    return {
        "exitcode": exitcode,
        "signal": None,
        "start": start,
        "end": now,
        "walltime": max(0.0, now - start),
        "cputime": 0.0,
        "maxrss_kib": 0,
        "reason": "failed",
        "error": error,
    }


def _sigwait(timeout: float | None) -> int | None:
    """Wait for one of _WAIT_SIGNALS (blocked) up to ``timeout`` seconds."""
    if _HAVE_SIGTIMEDWAIT:
        if timeout is None:
            return signal.sigwaitinfo(_WAIT_SIGNALS).si_signo
        info = signal.sigtimedwait(_WAIT_SIGNALS, max(timeout, 0.0))
        return None if info is None else info.si_signo
    # Fallback (no sigtimedwait, e.g. macOS): short timed sleeps.
    pending = signal.sigpending()
    if signal.SIGTERM in pending:
        return signal.sigwait({signal.SIGTERM})
    if signal.SIGCHLD in pending:
        return signal.sigwait({signal.SIGCHLD})
    time.sleep(_POLL_INTERVAL if timeout is None else max(0.0, min(timeout, _POLL_INTERVAL)))
    return None


def _supervise(ctl: str, spec: dict, state: dict) -> dict:
    cancel_marker = os.path.join(ctl, "cancel")
    if os.path.exists(cancel_marker):
        now = time.time()
        return {
            "exitcode": None,
            "signal": int(signal.SIGTERM),
            "start": now,
            "end": now,
            "walltime": 0.0,
            "cputime": 0.0,
            "maxrss_kib": 0,
            "reason": "cancelled",
            "error": None,
        }
    start = time.time()
    t0 = time.monotonic()
    state["start"] = start
    argv = spec["argv"]
    try:
        stdio = _open_stdio(spec)
    except _SetupError as exc:
        return _failed(start, 126, str(exc))
    errr = None
    try:
        if _USE_POSIX_SPAWN:
            pid = _spawn(argv, _job_env(spec), stdio)
        else:
            pid, errr = _fork_exec(argv, _job_env(spec), stdio)
    except OSError as exc:
        code = 127 if exc.errno == errno.ENOENT else 126
        return _failed(start, code, f"cannot execute {argv[0]!r}: {exc.strerror or exc}")
    finally:
        for fd in set(stdio):
            os.close(fd)
    state["pgid"] = pid
    _write_atomic(
        os.path.join(ctl, "started"), {"start": start, "wrapper_pid": os.getpid(), "pgid": pid}
    )

    reason = None
    kill_at = None
    term_sent = False
    wall_at = t0 + spec["walltime"] if spec["walltime"] is not None else None
    grace = spec["grace"]

    def terminate(why: str) -> None:
        nonlocal reason, kill_at, term_sent
        if reason is None:
            reason = why
        if not term_sent:
            term_sent = True
            _killpg(pid, signal.SIGTERM)
            _killpg(pid, signal.SIGCONT)
            kill_at = time.monotonic() + grace

    if os.path.exists(cancel_marker):  # cancel() ran before `started` existed
        terminate("cancelled")

    exec_error = ""
    if errr is not None:  # fork fallback: wait for exec (EOF) or its errno
        chunks = []
        while True:
            chunk = os.read(errr, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(errr)
        exec_error = b"".join(chunks).decode("utf-8", "replace")

    reaped = None
    while True:
        if _HAVE_WAITID:
            # Exited but not reaped: while it is a zombie its pid (= our pgid)
            # cannot be reused, so the final killpg() below is safe.
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
        else:  # reap right away; the pgid reuse window is negligible
            reaped = os.wait4(pid, os.WNOHANG)
            if reaped[0]:
                break
        now = time.monotonic()
        if wall_at is not None and now >= wall_at:
            wall_at = None
            terminate("walltime")
            continue
        if kill_at is not None and now >= kill_at:
            kill_at = None
            _killpg(pid, signal.SIGKILL)
            continue
        deadlines = [d for d in (wall_at, kill_at) if d is not None]
        signo = _sigwait(min(deadlines) - now if deadlines else None)
        if signo == signal.SIGTERM:
            terminate("cancelled")

    _killpg(pid, signal.SIGKILL)  # like a batch system: nothing survives the job
    _, status, ru = reaped if reaped is not None else os.wait4(pid, 0)
    end = time.time()
    elapsed = time.monotonic() - t0
    if os.WIFSIGNALED(status):
        exitcode, sig = None, os.WTERMSIG(status)
    else:
        exitcode, sig = os.WEXITSTATUS(status), None
    error = None
    if exec_error:
        why = exec_error.split(":", 1)[-1]
        error = f"cannot execute {argv[0]!r}: {why}"
        if sig is None:
            reason = "failed"
    if reason is None:
        reason = "signalled" if sig is not None else "exited"
    return {
        "exitcode": exitcode,
        "signal": sig,
        "start": start,
        "end": end,
        "walltime": elapsed,
        "cputime": ru.ru_utime + ru.ru_stime,
        "maxrss_kib": int(ru.ru_maxrss),
        "reason": reason,
        "error": error,
    }


# --------------------------------------------------------------------------
# control


def cancel(sandbox: str) -> bool:
    """Ask the wrapper of ``sandbox`` to cancel the job; False if it already ended
    (or the sandbox holds no job).

    Works before the wrapper wrote ``started`` too: it checks the marker then.
    """
    ctl = os.path.join(sandbox, CONTROL_DIR)
    status = os.path.join(ctl, "status.json")
    if os.path.exists(status) or not os.path.exists(os.path.join(ctl, "job.json")):
        return False  # ended, or there is no such job
    os.close(os.open(os.path.join(ctl, "cancel"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    try:
        started = _read_json(os.path.join(ctl, "started"))
    except (FileNotFoundError, ValueError):
        return True
    if os.path.exists(status):  # ended meanwhile: don't signal a possibly reused pid
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(int(started["wrapper_pid"]), signal.SIGTERM)
    return True


def read_state(sandbox: str) -> dict:
    """Return {"sandbox", "phase": "ended"|"running"|"launched"|"missing", ...}.

    "ended" adds the status.json fields, "running" adds "start".
    """
    ctl = os.path.join(sandbox, CONTROL_DIR)
    try:
        status = _read_json(os.path.join(ctl, "status.json"))
    except FileNotFoundError:
        pass
    except (ValueError, OSError) as exc:
        return {
            "sandbox": sandbox,
            "phase": "ended",
            "exitcode": None,
            "signal": None,
            "reason": "failed",
            "error": f"unreadable status.json: {exc}",
        }
    else:
        state = {"sandbox": sandbox, "phase": "ended"}
        state.update(status)
        return state
    try:
        started = _read_json(os.path.join(ctl, "started"))
        return {"sandbox": sandbox, "phase": "running", "start": started.get("start")}
    except (FileNotFoundError, ValueError):
        pass
    if os.path.exists(os.path.join(ctl, "job.json")):
        return {"sandbox": sandbox, "phase": "launched"}
    return {"sandbox": sandbox, "phase": "missing"}


def read_states(sandboxes: list[str]) -> list[dict]:
    """read_state() of each sandbox, in order."""
    _reap()
    return [read_state(s) for s in sandboxes]


def find(sandbox: str) -> int | None:
    """The pid of the wrapper started for the job of ``sandbox``, or None if none was.

    The job's id is the sandbox's name; a job.json of another job does not count.
    A sandbox whose job was never launched (or does not exist) gives None; an
    unreadable one raises.
    """
    ctl = os.path.join(sandbox, CONTROL_DIR)
    try:
        job = _read_json(os.path.join(ctl, "job.json"))
        launched = _read_json(os.path.join(ctl, "launched"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None  # (ValueError: job.json half-written, the caller died before launching)
    if not isinstance(job, dict) or job.get("jobid") != os.path.basename(sandbox):
        return None
    return int(launched["wrapper_pid"])


def find_all(sandboxes: list[str]) -> list[int | None]:
    """find() of each sandbox, in order."""
    return [find(s) for s in sandboxes]


# --------------------------------------------------------------------------
# script mode

_USAGE = """\
usage: wrapper.py submit SPOOL JOBID SANDBOX MAX_CORES
       wrapper.py status SANDBOX...
       wrapper.py cancel SANDBOX...
       wrapper.py find SANDBOX...
       wrapper.py usage SPOOL
"""


def _submit(spool: str, jobid: str, sandbox: str, max_cores: int) -> tuple:
    job = _read_json(os.path.join(sandbox, CONTROL_DIR, "job.json"))
    if not isinstance(job, dict) or job.get("jobid") != jobid:
        return {"ok": False, "error": f"job.json jobid does not match {jobid!r}"}, 1
    cores = int(job.get("cores") or 1)
    if not reserve(spool, jobid, cores, max_cores):
        return {"ok": False, "full": True, "used_cores": usage(spool)["used_cores"]}, 0
    try:
        pid = launch(spool, sandbox)
    except BaseException:
        release(spool, jobid)
        raise
    return {"ok": True, "wrapper_pid": pid}, 0


def main(args: list[str]) -> int:
    """Command-line entry point; prints JSON on stdout, returns the exit status."""
    cmd = args[0] if args else ""
    rest = args[1:]
    try:
        if cmd == "submit" and len(rest) == 4:
            try:
                max_cores = int(rest[3])
            except ValueError:
                sys.stderr.write("wrapper.py: MAX_CORES must be an integer\n" + _USAGE)
                return 2
            out, code = _submit(rest[0], rest[1], rest[2], max_cores)
        elif cmd == "status" and rest:
            out, code = read_states(rest), 0
        elif cmd == "cancel" and rest:
            out, code = [cancel(s) for s in rest], 0
        elif cmd == "find" and rest:
            out, code = find_all(rest), 0
        elif cmd == "usage" and len(rest) == 1:
            out, code = usage(rest[0]), 0
        else:
            sys.stderr.write(_USAGE)
            return 2
    except (OSError, ValueError) as exc:
        out, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 1
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
