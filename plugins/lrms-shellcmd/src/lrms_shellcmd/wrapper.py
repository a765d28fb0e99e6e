"""Job wrapper of the lrms ``shellcmd`` backend (stdlib only, Python 3.8+).

The same file is used in two ways:

* locally it is imported and :func:`launch` forks the running interpreter, so
  starting a job costs a couple of fork() calls instead of a new interpreter;
* remotely it is uploaded and run as ``python3 -I -S wrapper.py COMMAND ...``
  (see :func:`main`); every command prints JSON on stdout.

The forked process is the job's *supervisor*: it shows as ``lrms-job <jobid>`` in
``ps``, is a child subreaper (so processes the job daemonizes stay below it), pins
the job to its cores and, where a writable cgroup has the memory controller, puts
the job in a cgroup of its own with the requested memory as the limit.

Layout (all paths absolute)::

    SPOOL/lock              flock(2) file guarding SPOOL/active
    SPOOL/active/<jobid>    {"cores", "boot_id", "cpus"} (+ the supervisor's identity),
                            one per job holding a slot
    SANDBOX/.lrms/job.json  job description, written by the caller before launch
    SANDBOX/.lrms/launched  the supervisor's identity, written by launch() and by it first
    SANDBOX/.lrms/started   identity + {"start", "pgid", "job_start", "cgroup"}
    SANDBOX/.lrms/status.json  final state, written atomically when the job ended
    SANDBOX/.lrms/cancel    cancel marker, written by cancel()

An identity is {"wrapper_pid", "wrapper_start" (clock ticks after boot, from
/proc), "boot_id"}: a process counts as the supervisor only if all three match,
so a recycled pid or a reboot never passes for it.  Job state is derived from
these files; a job whose supervisor is gone without a status.json is ended by
the next reader as ``lost``.  The code that runs in forked children uses
os-level calls only, never raises out and always leaves through ``os._exit``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import os
import resource
import signal
import sys
import time
from typing import Any, Dict, Tuple, Union  # noqa: UP035  (aliases below run on Python 3.8)

CONTROL_DIR = ".lrms"
DEFAULT_GRACE = 5.0

Record = Dict[str, Any]  # noqa: UP006
Env = Union["os._Environ[str]", Dict[str, str]]  # noqa: UP006
Stdio = Tuple[int, int, int]  # noqa: UP006
Cgroup = Tuple[str, str]  # noqa: UP006  (kind "v1" or "v2", directory)

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
_HAVE_PROC = os.path.exists("/proc/self/stat")
_HAVE_CHILDREN_FILES = os.path.exists("/proc/thread-self/children")
_HAVE_AFFINITY = hasattr(os, "sched_setaffinity")
_POLL_INTERVAL = 0.05  # only used where sigtimedwait() is unavailable
_SWEEP_LIMIT = 10.0  # seconds the final kill sweep keeps trying
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36
_DEAD = ("Z", "X", "x")  # /proc states of a process that has exited

_boot_id_cache: str | None = None
_native: list[Any] = []  # [ctypes, prctl, argv area], see _load_native()


# --------------------------------------------------------------------------
# small file helpers


def _read_bytes(path: str) -> bytes:
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
    return b"".join(chunks)


def _read_json(path: str) -> Record:
    """A JSON object from ``path``; ValueError if it holds something else."""
    data = json.loads(_read_bytes(path).decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def _write_atomic(path: str, data: Record) -> None:
    """Write JSON to ``path`` via a temporary file and os.replace().

    The temporary name starts with a dot, so directory scans skip it.
    """
    head, tail = os.path.split(path)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.tmp")
    _write_file(tmp, json.dumps(data).encode("utf-8"), os.O_CREAT | os.O_TRUNC)
    os.replace(tmp, path)


def _write_file(path: str, payload: bytes, flags: int = 0) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | flags, 0o600)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


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


def _check_jobid(jobid: object) -> str:
    if (
        not isinstance(jobid, str)
        or not jobid
        or "/" in jobid
        or "\0" in jobid
        or jobid.startswith(".")
    ):
        raise ValueError(f"invalid job id: {jobid!r}")
    return jobid


# --------------------------------------------------------------------------
# processes: identity, title, descendants


def _proc_stat(pid: int | str) -> list[str] | None:
    """Fields 3 on of /proc/PID/stat (state first), None if there is no such process."""
    try:
        data = _read_bytes(f"/proc/{pid}/stat")
    except OSError:
        return None
    return data[data.rindex(b")") + 2 :].decode("ascii", "replace").split()


def _started_at(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of ``pid``, None if it does not exist."""
    fields = _proc_stat(pid)
    return None if fields is None else (fields[0], int(fields[19]))


def _identity(pid: int) -> Record:
    started = _started_at(pid) if _HAVE_PROC else None
    return {
        "wrapper_pid": pid,
        "wrapper_start": None if started is None else started[1],
        "boot_id": _boot_id(),
    }


def _is_alive(pid: int, start: int | None, boot_id: str | None) -> bool:
    """Whether the process that started at ``start`` in boot ``boot_id`` still runs as ``pid``.

    Without a recorded start time (or /proc) it cannot be told: taken as alive.
    """
    if boot_id is not None and boot_id != _boot_id():
        return False
    if start is None or not _HAVE_PROC:
        return True
    found = _started_at(pid)
    return found is not None and found[0] not in _DEAD and found[1] == start


def _supervisor_alive(record: Record) -> bool:
    """_is_alive() of the supervisor an identity record names (True if it names none)."""
    pid = record.get("wrapper_pid")
    if not isinstance(pid, int):
        return True
    return _is_alive(pid, record.get("wrapper_start"), record.get("boot_id"))


def _open_pidfd(pid: int) -> int | None:
    """A pidfd of ``pid`` (None where the kernel has none); ProcessLookupError if gone."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise
    except OSError:
        return None


def _send(pid: int, pidfd: int | None, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pidfd is None:
            os.kill(pid, sig)
        else:
            signal.pidfd_send_signal(pidfd, sig)


def _signal_verified(pid: int, start: int | None, sig: int) -> bool:
    """Send ``sig`` to ``pid`` only if it is (still) the process started at ``start``.

    With pidfds the check and the signal reach the same process even if the pid
    is recycled in between.
    """
    try:
        fd = _open_pidfd(pid)
    except ProcessLookupError:
        return False
    try:
        if not _is_alive(pid, start, None):
            return False
        _send(pid, fd, sig)
        return True
    finally:
        if fd is not None:
            os.close(fd)


def _load_native() -> None:
    """Load ctypes and libc and find this process's argv area, once, before forking:
    the forked supervisor must not import, and its argv area is at the same address."""
    if _native:
        return
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up once, here
    except (ImportError, OSError, AttributeError):
        _native.extend([None, None, None])
        return
    fields = _proc_stat("self")
    area = (int(fields[45]), int(fields[46])) if fields and len(fields) > 46 else None
    _native.extend([ctypes, prctl, area])  # (stat fields 48 and 49: arg_start, arg_end)


def _prctl(option: int, arg: Any) -> bool:
    ctypes, prctl = _native[:2]
    if prctl is None:
        return False
    if isinstance(arg, int):
        arg = ctypes.c_ulong(arg)
    zero = ctypes.c_ulong(0)
    return bool(prctl(ctypes.c_ulong(option), arg, zero, zero, zero) == 0)


def _set_title(title: str) -> None:
    """Show this process as ``title`` in ps (its argv area) and top (its comm)."""
    ctypes, _, area = _native
    if ctypes is None:
        return
    encoded = title.encode("utf-8", "replace")
    _prctl(_PR_SET_NAME, ctypes.c_char_p(encoded[:15]))
    size = area[1] - area[0] if area else 0
    if size > 1:
        # Title, NUL, then spaces: with no NUL at the end of the area, the kernel
        # shows it up to the first NUL (as for setproctitle(3)).
        ctypes.memmove(area[0], (encoded[: size - 1] + b"\0").ljust(size, b" "), size)


def _children(pid: int | str) -> list[int]:
    """The children of ``pid`` (every thread's), zombies included."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tids:
        with contextlib.suppress(OSError):
            found.extend(int(p) for p in _read_bytes(f"/proc/{pid}/task/{tid}/children").split())
    return found


def _descendants() -> list[int]:
    """Every process below this one: its children, theirs, and so on."""
    if _HAVE_CHILDREN_FILES:
        below = {os.getpid(): _children(os.getpid())}
    elif _HAVE_PROC:
        below = {}
        for name in os.listdir("/proc"):
            fields = _proc_stat(name) if name.isdigit() else None
            if fields is not None:
                below.setdefault(int(fields[1]), []).append(int(name))
    else:
        return []
    found: list[int] = []
    todo = list(below.get(os.getpid(), ()))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(_children(pid) if _HAVE_CHILDREN_FILES else below.get(pid, ()))
    return found


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_below(pids: list[int], sig: int) -> None:
    """Send ``sig`` to those of ``pids`` (found below this process) still below it:
    whose parent is this process or one of ``pids``, checked through a pidfd where
    the kernel has them, so a recycled pid is never signalled."""
    tree = {os.getpid(), *pids}
    for pid in pids:
        try:
            fd = _open_pidfd(pid)
        except ProcessLookupError:
            continue
        try:
            fields = _proc_stat(pid)
            if fields is not None and int(fields[1]) in tree:
                _send(pid, fd, sig)
        finally:
            if fd is not None:
                os.close(fd)


def _signal_job(leader: int, sig: int) -> None:
    """Signal the job's process group and every process below the supervisor.

    The supervisor is a child subreaper, so that includes processes that left
    the group (setsid) or daemonized.
    """
    _killpg(leader, sig)
    _signal_below(_descendants(), sig)


# --------------------------------------------------------------------------
# cgroups (memory limits)


def _cgroup_candidates() -> list[Cgroup]:
    """Directories of this process's cgroups with the memory controller, v2 first."""
    own: dict[str, str] = {}
    mounts: list[tuple[str, str, str, str]] = []
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    own["v2" if parts[1] == "" else parts[1]] = parts[2]
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                mine, fs = left.split(), right.split()
                if len(mine) > 4 and len(fs) > 2 and fs[0] in ("cgroup", "cgroup2"):
                    mounts.append((fs[0], mine[3], mine[4], fs[2]))
    except OSError:
        return []
    v1_memory = [path for names, path in own.items() if "memory" in names.split(",")]
    found: list[Cgroup] = []
    for fstype, root, mountpoint, options in mounts:
        if fstype == "cgroup2":
            kind, path = "v2", own.get("v2")
        elif "memory" in options.split(",") and v1_memory:
            kind, path = "v1", v1_memory[0]
        else:
            continue
        if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
            continue
        found.append((kind, os.path.normpath(mountpoint + "/" + path[len(root) :])))
    found.sort(key=lambda c: c[0] != "v2")
    return found


def _memory_cgroup_parent() -> Cgroup | None:
    """Where this user may create a job cgroup that can limit memory, or None.

    cgroup v2: this process's cgroup or the nearest ancestor whose
    ``cgroup.subtree_control`` has ``memory`` and that is writable; cgroup v1:
    this process's ``memory`` cgroup if writable.
    """
    for kind, directory in _cgroup_candidates():
        if kind == "v1":
            if os.access(directory, os.W_OK) and os.path.exists(
                os.path.join(directory, "memory.limit_in_bytes")
            ):
                return kind, directory
            continue
        current = directory
        while os.path.exists(os.path.join(current, "cgroup.subtree_control")):
            try:
                enabled = _read_bytes(os.path.join(current, "cgroup.subtree_control")).split()
            except OSError:
                break
            if b"memory" in enabled and os.access(current, os.W_OK):
                return kind, current
            current = os.path.dirname(current)
    return None


def _make_job_cgroup(jobid: str, limit: int) -> Cgroup | None:
    """A new cgroup for ``jobid`` with ``limit`` bytes as its memory limit, or None."""
    parent = _memory_cgroup_parent()
    if parent is None:
        return None
    kind, directory = parent
    path = os.path.join(directory, f"lrms-{jobid}")
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        if kind == "v2":
            _write_file(os.path.join(path, "memory.max"), str(limit).encode())
            with contextlib.suppress(OSError):
                _write_file(os.path.join(path, "memory.swap.max"), b"0")
        else:
            _write_file(os.path.join(path, "memory.limit_in_bytes"), str(limit).encode())
            with contextlib.suppress(OSError):  # only where swap accounting is on
                _write_file(os.path.join(path, "memory.memsw.limit_in_bytes"), str(limit).encode())
    except OSError:
        with contextlib.suppress(OSError):
            os.rmdir(path)
        return None
    return kind, path


def _oom_kills(cgroup: Cgroup) -> int:
    """How many processes of ``cgroup`` the kernel killed for running out of memory."""
    kind, path = cgroup
    name = "memory.events" if kind == "v2" else "memory.oom_control"
    try:
        for line in _read_bytes(os.path.join(path, name)).decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_pids(cgroup: Cgroup) -> list[int]:
    try:
        return [int(p) for p in _read_bytes(os.path.join(cgroup[1], "cgroup.procs")).split()]
    except (OSError, ValueError):
        return []


def _kill_cgroup(cgroup: Cgroup, pids: list[int]) -> None:
    """SIGKILL the processes of ``cgroup`` (``pids``, as listed just before): with
    ``cgroup.kill`` (v2), else each that is still a member once its pidfd is open."""
    with contextlib.suppress(OSError):
        _write_file(os.path.join(cgroup[1], "cgroup.kill"), b"1")
        return
    fds: dict[int, int | None] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[pid] = _open_pidfd(pid)
    members = set(_cgroup_pids(cgroup))
    for pid, fd in fds.items():
        if pid in members:
            _send(pid, fd, signal.SIGKILL)
        if fd is not None:
            os.close(fd)


def _remove_cgroup(cgroup: Cgroup, kill: bool) -> None:
    """Delete the job's cgroup (with ``kill``: after killing whatever is still in it)."""
    deadline = time.monotonic() + _SWEEP_LIMIT
    while True:
        pids = _cgroup_pids(cgroup)
        if kill and pids:
            _kill_cgroup(cgroup, pids)
        try:
            os.rmdir(cgroup[1])
            return
        except FileNotFoundError:
            return
        except OSError:
            if not pids or time.monotonic() > deadline:
                return
        time.sleep(0.01)


# --------------------------------------------------------------------------
# slot accounting


def _scan_active(active: str, boot: str, purge: bool) -> dict[str, Record]:
    """Return {jobid: entry} of the valid entries in ``active``.

    Entries of another boot, of a supervisor that died, or unreadable ones are
    skipped, and deleted if ``purge`` (only done while holding the lock).
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
            entry["cores"] = int(entry["cores"])
            ok = entry.get("boot_id") == boot and (
                "wrapper_pid" not in entry or _supervisor_alive(entry)
            )
        except FileNotFoundError:
            continue
        except (ValueError, TypeError, KeyError, AttributeError, OSError):
            ok = False
        if ok:
            entries[name] = entry
        elif purge:
            _unlink(path)
    return entries


def _pick_cpus(entries: dict[str, Record], cores: int) -> list[int] | None:
    """The ``cores`` least used CPUs this process may run on; None if that is all of them."""
    if not _HAVE_AFFINITY:
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if cores >= len(allowed):
        return None
    load = dict.fromkeys(allowed, 0)
    for entry in entries.values():
        for cpu in entry.get("cpus") or ():
            if cpu in load:
                load[cpu] += 1
    return sorted(sorted(allowed, key=lambda cpu: (load[cpu], cpu))[:cores])


def reserve(spool: str, jobid: str, cores: int, max_cores: int) -> bool:
    """Atomically take ``cores`` slots for ``jobid`` if at most ``max_cores`` get used.

    The entry also names the CPUs the job will be pinned to (the least used
    ones).  Entries left over from a previous boot or by a dead supervisor are
    deleted.  Re-reserving an existing ``jobid`` replaces its entry.  Returns
    False if it does not fit.
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
        if sum(e["cores"] for e in entries.values()) + cores > max_cores:
            return False
        entry = {"cores": cores, "boot_id": boot, "cpus": _pick_cpus(entries, cores)}
        _write_atomic(os.path.join(active, jobid), entry)
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


def enforcement() -> dict[str, str | None]:
    """How this host enforces each request for jobs of this user (None: it cannot)."""
    cgroup = _memory_cgroup_parent()
    memory = None
    if cgroup is not None:
        limit = "memory.max" if cgroup[0] == "v2" else "memory.limit_in_bytes"
        memory = f"cgroup {cgroup[0]} {limit}"
    return {"memory": memory, "cores": "CPU affinity" if _HAVE_AFFINITY else None}


def usage(spool: str) -> Record:
    """Return {"used_cores", "running", "cpus", "memory_bytes", "enforced"} of this host/spool."""
    entries = _scan_active(os.path.join(spool, "active"), _boot_id(), purge=False)
    return {
        "used_cores": sum(e["cores"] for e in entries.values()),
        "running": len(entries),
        "cpus": os.cpu_count(),
        "memory_bytes": _memtotal(),
        "enforced": enforcement(),
    }


# --------------------------------------------------------------------------
# launching


def _job_spec(job: Record, sandbox: str) -> Record:
    """Validate job.json (in the caller, so errors raise there) and resolve paths."""
    jobid = _check_jobid(job.get("jobid"))
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
    memory = job.get("memory")
    workdir = job.get("workdir")
    return {
        "jobid": jobid,
        "argv": argv,
        "env": env,
        "sandbox": sandbox,
        "workdir": os.path.expanduser(workdir) if workdir else None,
        "host": str(job.get("host") or "this host"),
        "stdin": os.path.join(sandbox, stdin) if stdin else os.devnull,
        "stdout": os.path.join(sandbox, stdout),
        "stderr": os.path.join(sandbox, stderr),
        "walltime": float(walltime) if walltime is not None else None,
        "grace": float(grace) if grace is not None else DEFAULT_GRACE,
        "memory": int(memory) if memory else None,
    }


def launch(spool: str, sandbox: str) -> int:
    """Start the job of ``sandbox`` under a detached supervisor; return the supervisor's pid.

    Forks the current interpreter once; the child calls setsid() and becomes
    the supervisor, so this returns at once.  The supervisor stays this
    process's child until it ends (it is reaped by later calls, or re-parented
    when this process exits).  The slot must have been reserved by the caller;
    the supervisor releases it when the job ends.  Raises (without starting
    anything) if job.json is unusable; the caller then still owns the
    reservation.
    """
    spec = _job_spec(_read_json(os.path.join(sandbox, CONTROL_DIR, "job.json")), sandbox)
    _reap()
    _load_native()
    # The supervisor's signals are blocked from the fork on, so a SIGTERM sent
    # before it is ready stays pending instead of killing it.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WAIT_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:  # the supervisor
            try:
                os.setsid()
                _wrapper(spool, sandbox, spec)  # never returns
            finally:
                os._exit(1)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    _children_forked.add(pid)
    # The supervisor writes this too, first thing (in case this process dies now);
    # written here as well, find() sees the job as soon as launch() has returned.
    with contextlib.suppress(OSError):
        _write_atomic(os.path.join(sandbox, CONTROL_DIR, "launched"),
                      _launch_record(pid, spool, spec["jobid"]))
    return pid


def _launch_record(pid: int, spool: str, jobid: str) -> Record:
    record = _identity(pid)
    record.update(spool=spool, jobid=jobid)
    return record


_children_forked: set[int] = set()  # supervisors forked by this process, not reaped yet


def _reap() -> None:
    """Collect supervisors of this process that have exited (no zombies pile up)."""
    for pid in list(_children_forked):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere, or SIGCHLD ignored
            done = pid
        if done:
            _children_forked.discard(pid)


def watch(pids: list[int]) -> list[int]:
    """Descriptors that become readable when a supervisor in ``pids`` exits: pidfds, and
    one readable at once for a supervisor already gone (local use; the caller closes
    them).  Empty where the kernel has no pidfds."""
    _reap()
    fds: list[int] = []
    gone = False
    for pid in pids:
        try:
            fd = _open_pidfd(pid)
        except ProcessLookupError:
            gone = True
            continue
        if fd is None:
            break
        fds.append(fd)
    else:
        if gone and hasattr(os, "eventfd"):
            fds.append(os.eventfd(1))
        return fds
    for fd in fds:
        os.close(fd)
    return []


def _close_fds(keep: tuple[int, ...] = ()) -> None:
    """Close every fd >= 3 except ``keep``."""
    try:
        names: list[str] | None = os.listdir("/proc/self/fd")
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


def _outcome(start: float, reason: str, error: str | None, exitcode: int | None = None,
             sig: int | None = None, walltime: float | None = None) -> Record:
    """A status.json record of a job that ended without usage figures."""
    now = time.time()
    return {
        "exitcode": exitcode,
        "signal": sig,
        "start": start,
        "end": now,
        "walltime": max(0.0, now - start) if walltime is None else walltime,
        "cputime": 0.0,
        "maxrss_kib": 0,
        "reason": reason,
        "error": error,
    }


def _wrapper(spool: str, sandbox: str, spec: Record) -> None:
    """Body of the detached supervisor (a fork of the caller). Never returns."""
    ctl = os.path.join(sandbox, CONTROL_DIR)
    state: Record = {"pgid": None, "start": None}
    try:
        gc.disable()  # no finalizers of the parent's objects closing reused fds
        # First of all, so that find() sees the job even if the caller dies now.
        record = _launch_record(os.getpid(), spool, spec["jobid"])
        _write_atomic(os.path.join(ctl, "launched"), record)
        _set_title(f"lrms-job {spec['jobid']}")
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
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
        _claim_slot(spool, spec["jobid"], record)
        result = _supervise(ctl, spec, state, record)
    except BaseException as exc:
        msg = f"wrapper error: {type(exc).__name__}: {exc}"
        _log(ctl, msg)
        if state["pgid"] is not None:
            _signal_job(state["pgid"], signal.SIGKILL)
        result = _outcome(state["start"] or time.time(), "failed", msg, exitcode=126)
    try:
        release(spool, spec["jobid"])  # before status.json: "ended" implies "slot free"
    except BaseException as exc:
        _log(ctl, f"release failed: {exc!r}")
    try:
        _write_atomic(os.path.join(ctl, "status.json"), result)
    except BaseException as exc:
        _log(ctl, f"writing status.json failed: {exc!r}")
    os._exit(0)


def _claim_slot(spool: str, jobid: str, record: Record) -> None:
    """Put this supervisor's identity into the job's slot entry and pin to its CPUs.

    With the identity, a slot whose supervisor died counts as free.
    """
    path = os.path.join(spool, "active", jobid)
    try:
        entry = _read_json(path)
    except FileNotFoundError:
        return  # no reservation (a test calling launch directly): nothing to claim
    cpus = entry.get("cpus")
    if cpus and _HAVE_AFFINITY:
        with contextlib.suppress(OSError):  # e.g. a CPU taken offline since: run unpinned
            os.sched_setaffinity(0, cpus)  # inherited by the job
    entry.update(wrapper_pid=record["wrapper_pid"], wrapper_start=record["wrapper_start"])
    _write_atomic(path, entry)


def _open_stdio(spec: Record) -> Stdio:
    """Open the job's stdin, stdout, stderr in the wrapper (close-on-exec fds)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    fds: list[int] = []
    what = "stdin"
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
    return fds[0], fds[1], fds[2]


class _SetupError(Exception):
    pass


def _job_env(spec: Record) -> Env:
    if not spec["env"]:
        return os.environ
    env = dict(os.environ)
    env.update(spec["env"])
    return env


def _spawn(argv: list[str], env: Env, stdio: Stdio) -> int:
    """Start the job with posix_spawn (vfork+exec in libc: cheap, reports exec errors).

    The child gets its own process group, an empty signal mask and default
    dispositions.  Raises OSError if the program cannot be executed.
    """
    actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
    name = argv[0]
    if "/" in name or env is os.environ or env.get("PATH") == os.environ.get("PATH"):
        return os.posix_spawnp(name, argv, env, file_actions=actions, setpgroup=0,
                               setsigmask=(), setsigdef=_RESET_SIGNALS)
    # The job sets its own PATH: look the program up in *that* PATH, like
    # execvpe() does (libc's posix_spawnp would search the wrapper's PATH).
    saved: OSError | None = None
    for directory in os.get_exec_path(env) if name else ():
        path = os.path.join(directory, name)
        if not os.path.exists(path):  # a stat() is cheaper than a failed spawn
            continue
        try:
            return os.posix_spawn(path, argv, env, file_actions=actions, setpgroup=0,
                                  setsigmask=(), setsigdef=_RESET_SIGNALS)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR) and saved is None:
                saved = exc
    raise saved or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _fork_exec(argv: list[str], env: Env, stdio: Stdio,
               cgroup: Cgroup | None) -> tuple[int, int]:
    """Start the job with fork + exec (no posix_spawn, or it joins a cgroup first);
    exec errors come back through a close-on-exec pipe.  Returns (pid, read end)."""
    errr, errw = os.pipe()  # both close-on-exec
    pid = os.fork()
    if pid == 0:
        _exec_child(argv, env, stdio, errw, cgroup)  # never returns
    os.close(errw)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever comes first
    return pid, errr


def _exec_child(argv: list[str], env: Env, stdio: Stdio, errw: int,
                cgroup: Cgroup | None) -> None:
    """Body of the forked job child (fork path). Never returns."""
    what = ""
    try:
        os.setpgid(0, 0)
        if cgroup is not None:
            what = "cannot join the job's cgroup: "
            _write_file(os.path.join(cgroup[1], "cgroup.procs"), str(os.getpid()).encode())
            what = ""
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
            os.write(errw, f"{code}:{what}{getattr(exc, 'strerror', None) or exc}".encode())
        os._exit(127 if code == errno.ENOENT and not what else 126)
    os._exit(126)


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


_WaitResult = Tuple[int, int, Any]  # noqa: UP006


def _leader_exited(leader: int) -> tuple[bool, _WaitResult | None]:
    """Reap the processes the job left behind (re-parented to this subreaper) until
    none is waiting; (whether the leader has exited, its wait4 result if reaped).

    With waitid() the leader is left a zombie: its pid (= the job's pgid) then
    cannot be reused, so signalling the group stays safe.
    """
    while True:
        if _HAVE_WAITID:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None:
                return False, None
            if info.si_pid == leader:
                return True, None
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)
        else:
            try:
                result = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return True, None
            if result[0] == 0:
                return False, None
            if result[0] == leader:
                return True, result


def _sweep(leader: int) -> None:
    """SIGKILL everything the job left until nothing is left; reap it (not the leader)."""
    deadline = time.monotonic() + _SWEEP_LIMIT
    while True:
        _killpg(leader, signal.SIGKILL)
        left = [pid for pid in _descendants() if pid != leader]
        if not left or time.monotonic() > deadline:
            return
        _signal_below(left, signal.SIGKILL)
        for pid in _children(os.getpid()):
            if pid != leader:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        time.sleep(0.005)


def _supervise(ctl: str, spec: Record, state: Record, record: Record) -> Record:
    cancel_marker = os.path.join(ctl, "cancel")
    if os.path.exists(cancel_marker):
        return _outcome(time.time(), "cancelled", None, sig=int(signal.SIGTERM), walltime=0.0)
    start = time.time()
    t0 = time.monotonic()
    state["start"] = start
    argv = spec["argv"]
    if spec["workdir"] is not None:
        try:
            os.chdir(spec["workdir"])
        except OSError as exc:
            return _failed_start(start, 126, f"cannot run in workdir {spec['workdir']!r} on "
                                 f"{spec['host']}: {exc.strerror}", None)
    cgroup = _make_job_cgroup(spec["jobid"], spec["memory"]) if spec["memory"] else None
    try:
        stdio = _open_stdio(spec)
    except _SetupError as exc:
        return _failed_start(start, 126, str(exc), cgroup)
    errr = None
    try:
        if _USE_POSIX_SPAWN and cgroup is None:
            pid = _spawn(argv, _job_env(spec), stdio)
        else:
            pid, errr = _fork_exec(argv, _job_env(spec), stdio, cgroup)
    except OSError as exc:
        code = 127 if exc.errno == errno.ENOENT else 126
        return _failed_start(start, code, _cannot_execute(spec, exc.errno, exc.strerror or
                                                          str(exc)), cgroup)
    finally:
        for fd in set(stdio):
            os.close(fd)
    state["pgid"] = pid
    started = dict(record, start=start, pgid=pid, cgroup=cgroup)
    leader = _started_at(pid) if _HAVE_PROC else None
    started["job_start"] = None if leader is None else leader[1]
    _write_atomic(os.path.join(ctl, "started"), started)

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
            _signal_job(pid, signal.SIGTERM)
            _signal_job(pid, signal.SIGCONT)
            kill_at = time.monotonic() + grace

    if os.path.exists(cancel_marker):  # cancel() ran before `started` existed
        terminate("cancelled")

    exec_error = ""
    if errr is not None:  # fork path: wait for exec (EOF) or its errno
        chunks = []
        while True:
            chunk = os.read(errr, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(errr)
        exec_error = b"".join(chunks).decode("utf-8", "replace")

    while True:
        done, reaped = _leader_exited(pid)
        if done:
            break
        now = time.monotonic()
        if wall_at is not None and now >= wall_at:
            wall_at = None
            terminate("walltime")
            continue
        if kill_at is not None and now >= kill_at:
            kill_at = None
            _signal_job(pid, signal.SIGKILL)
            continue
        deadlines = [d for d in (wall_at, kill_at) if d is not None]
        signo = _sigwait(min(deadlines) - now if deadlines else None)
        if signo == signal.SIGTERM:
            terminate("cancelled")

    _sweep(pid)  # like a batch system: nothing survives the job
    _, status, _ = reaped if reaped is not None else os.wait4(pid, 0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the job and all it left behind
    end = time.time()
    elapsed = time.monotonic() - t0
    if os.WIFSIGNALED(status):
        exitcode, sig = None, os.WTERMSIG(status)
    else:
        exitcode, sig = os.WEXITSTATUS(status), None
    error = None
    if exec_error:
        number, _, why = exec_error.partition(":")
        error = _cannot_execute(spec, int(number) if number.isdigit() else None, why)
        if sig is None:
            reason = "failed"
    if cgroup is not None:
        if _oom_kills(cgroup) and reason is None:
            reason = "memory"
            error = f"killed for using more than the requested {spec['memory']} bytes of memory"
        _remove_cgroup(cgroup, kill=False)
    if reason is None:
        reason = "signalled" if sig is not None else "exited"
    return {
        "exitcode": exitcode,
        "signal": sig,
        "start": start,
        "end": end,
        "walltime": elapsed,
        "cputime": usage.ru_utime + usage.ru_stime,
        "maxrss_kib": int(usage.ru_maxrss),
        "reason": reason,
        "error": error,
    }


def _cannot_execute(spec: Record, number: int | None, why: str) -> str:
    """Why the job's program did not start; for a missing one, where it was looked for."""
    program = spec["argv"][0]
    where = spec["workdir"] or spec["sandbox"]
    path = os.path.join(where, program)
    found = os.path.exists(path)
    text = f"cannot execute {program!r} on {spec['host']}: {why}"
    if number == errno.EACCES and found and not os.access(path, os.X_OK):
        return f"{text}: the file is not executable (chmod +x it, or run it with its interpreter)"
    if number != errno.ENOENT or program.startswith("/"):
        return text
    if "/" not in program:
        return f"cannot execute {program!r} on {spec['host']}: not found in the job's PATH" + (
            f" (there is a file {program} in {where}: run it as ./{program})" if found else "")
    if found:
        return f"{text}: the interpreter on its #! line is not there"
    if spec["workdir"] is not None:
        return f"{text} in the job's workdir {where}"
    return (f"{text} in the job's sandbox; send it with the job (--input FILE on the "
            "command line, Application inputs in Python)")


def _failed_start(start: float, exitcode: int, error: str, cgroup: Cgroup | None) -> Record:
    if cgroup is not None:
        _remove_cgroup(cgroup, kill=False)
    return _outcome(start, "failed", error, exitcode=exitcode)


# --------------------------------------------------------------------------
# lost supervisors


def _declare_lost(ctl: str, record: Record) -> Record:
    """End the job of ``ctl`` whose supervisor died: kill what is verifiably left of
    it, free its slot and write a status.json with reason "lost"; return that."""
    same_boot = record.get("boot_id") == _boot_id()
    pgid, job_start = record.get("pgid"), record.get("job_start")
    if same_boot and pgid and job_start is not None:
        leader = _started_at(int(pgid))
        # With the leader gone, any member of the group is the job's: a pgid is
        # never handed out as a new pid while its group has members.
        if leader is None or leader[1] == job_start:
            _killpg(int(pgid), signal.SIGKILL)
    if same_boot and record.get("cgroup"):
        kind, path = record["cgroup"]
        _remove_cgroup((kind, path), kill=True)
    with contextlib.suppress(KeyError, OSError, ValueError):
        release(record["spool"], record["jobid"])
    why = "the host rebooted" if not same_boot else (
        f"its supervisor (pid {record.get('wrapper_pid')}) died: killed, or out of memory")
    start = record.get("start")
    status = _outcome(start or time.time(), "lost",
                      f"{why}; the job's outcome is unknown")
    status.update(start=start, walltime=None, cputime=None, maxrss_kib=None)
    path = os.path.join(ctl, "status.json")
    tmp = os.path.join(ctl, f".status.json.{os.getpid()}.lost")
    _write_file(tmp, json.dumps(status).encode("utf-8"), os.O_CREAT | os.O_TRUNC)
    try:
        os.link(tmp, path)  # the first reader to get here decides; later ones read it
    except FileExistsError:
        status = _read_json(path)
    finally:
        _unlink(tmp)
    return status


# --------------------------------------------------------------------------
# control


def _read_status(ctl: str) -> Record | None:
    """status.json of ``ctl`` (None if the job has not ended); unreadable: a failure."""
    try:
        return _read_json(os.path.join(ctl, "status.json"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        return {"exitcode": None, "signal": None, "reason": "failed",
                "error": f"unreadable status.json: {exc}"}


def _supervisor_record(ctl: str) -> tuple[str, Record | None]:
    """("running", started) or ("launched", launched record or None)."""
    for phase, name in (("running", "started"), ("launched", "launched")):
        with contextlib.suppress(FileNotFoundError, ValueError):
            return phase, _read_json(os.path.join(ctl, name))
    return "launched", None


def cancel(sandbox: str) -> bool:
    """Ask the supervisor of ``sandbox`` to cancel the job; False if it already ended
    (or the sandbox holds no job).

    Works before the supervisor wrote ``started`` too: it checks the marker then.
    The supervisor is signalled only once verified by its start time; a job whose
    supervisor died is ended as lost.
    """
    ctl = os.path.join(sandbox, CONTROL_DIR)
    status = os.path.join(ctl, "status.json")
    if os.path.exists(status) or not os.path.exists(os.path.join(ctl, "job.json")):
        return False  # ended, or there is no such job
    _write_file(os.path.join(ctl, "cancel"), b"", os.O_CREAT)
    phase, record = _supervisor_record(ctl)
    if record is None:
        return True
    if not _supervisor_alive(record):
        read_state(sandbox)  # ends it as lost
        return True
    if phase == "running" and not os.path.exists(status):
        _signal_verified(int(record["wrapper_pid"]), record.get("wrapper_start"), signal.SIGTERM)
    return True


def read_state(sandbox: str) -> Record:
    """Return {"sandbox", "phase": "ended"|"running"|"launched"|"missing", ...}.

    "ended" adds the status.json fields, "running" adds "start".  A job whose
    supervisor is no longer alive is ended here as "lost".
    """
    ctl = os.path.join(sandbox, CONTROL_DIR)
    answer: Record = {"sandbox": sandbox}
    status = _read_status(ctl)
    if status is None:
        phase, record = _supervisor_record(ctl)
        if record is not None and not _supervisor_alive(record):
            status = _read_status(ctl)  # it may have ended just now
            if status is None:
                status = _declare_lost(ctl, record)
        elif phase == "running" and record is not None:
            answer.update(phase="running", start=record.get("start"))
            return answer
        elif os.path.exists(os.path.join(ctl, "job.json")):
            answer["phase"] = "launched"
            return answer
        else:
            answer["phase"] = "missing"
            return answer
    answer["phase"] = "ended"
    answer.update(status)
    return answer


def read_states(sandboxes: list[str]) -> list[Record]:
    """read_state() of each sandbox, in order."""
    _reap()
    return [read_state(s) for s in sandboxes]


def find(sandbox: str) -> int | None:
    """The pid of the supervisor started for the job of ``sandbox``, or None if none was.

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
    if job.get("jobid") != os.path.basename(sandbox):
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


def _submit(spool: str, jobid: str, sandbox: str, max_cores: int) -> tuple[Record, int]:
    job = _read_json(os.path.join(sandbox, CONTROL_DIR, "job.json"))
    if job.get("jobid") != jobid:
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
    out: object
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
