"""The agent: one background process per job store that keeps its jobs going.

``lrms submit`` starts it (:func:`start`) unless one is running; it runs
:class:`~lrms.Engine` rounds over the store (submitting NEW jobs as slots free,
refreshing states once per resource poll interval, fetching outputs) until no
job is active, lingers a little for the next submission, then exits.  While it
runs, ``lrms wait`` and ``lrms status`` read the store instead of running
rounds themselves.

One per store: the agent holds an exclusive ``flock(2)`` on ``<store>.agent``
(in the store's directory) for its whole life and writes who it is into that
file (JSON: pid, host, start time, configuration, log).  A second agent
started meanwhile finds the lock taken and exits at once; a dead agent's lock
is released by the kernel, so the next ``lrms`` command can start another.
The log is ``$XDG_STATE_HOME/lrms/agent-<hash of the store path>.log``
(``~/.local/state/lrms/...``).

Local jobs wake the agent as they end (:meth:`LRMS.watch_jobs`, pidfds of the
shellcmd supervisors), so a freed core is used at once; another process's
change to the store (a submission, a cancel) wakes it within a fraction of a
second.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["AgentInfo", "lock_path", "log_path", "running", "start", "stop"]

log = logging.getLogger(__name__)

#: Seconds ``start`` waits for a new agent to take its lock.
START_TIMEOUT = 10.0
#: Seconds between two summaries in the log.
LOG_EVERY = 10.0
#: Longest sleep between two looks at the store for other processes' changes.
TICK = 0.2
_LOG_LIMIT = 10 * 1024**2  # a log this large is rotated to .1 when an agent starts


@dataclasses.dataclass(frozen=True)
class AgentInfo:
    """Who the running agent of a store is (read from its lock file)."""

    pid: int
    host: str
    started: float
    store: str
    config: str | None
    log: str


def lock_path(store: str) -> str:
    """The agent's lock file, beside the job store."""
    return os.path.abspath(store) + ".agent"


def log_path(store: str) -> str:
    """The agent's log file for ``store``, in the user's state directory."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    digest = hashlib.sha256(os.path.abspath(store).encode()).hexdigest()[:12]
    return os.path.join(state, "lrms", f"agent-{digest}.log")


def running(store: str) -> AgentInfo | None:
    """The agent holding ``store``'s lock, or None if no agent runs for it."""
    try:
        fd = os.open(lock_path(store), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return _read_info(fd, store)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_info(fd: int, store: str) -> AgentInfo:
    """The lock file's record (a placeholder while a new agent is still writing it)."""
    try:
        data = json.loads(os.pread(fd, 65536, 0) or b"{}")
        return AgentInfo(int(data["pid"]), str(data["host"]), float(data["started"]),
                         str(data["store"]), data.get("config"), str(data["log"]))
    except (ValueError, KeyError, TypeError):
        return AgentInfo(0, socket.gethostname(), 0.0, os.path.abspath(store), None,
                         log_path(store))


def start(store: str, config: str | None, *, max_in_flight: int | None = None,
          retries: int = 0) -> AgentInfo:
    """Start the agent of ``store`` unless one runs; return the running agent.

    ``config`` is the configuration file (None: the built-in local resource),
    passed on to the agent as an absolute path.  The agent is detached (a new
    session, no terminal, outputs into its log), so it survives logout.
    """
    found = running(store)
    if found is not None:
        return found
    logfile = log_path(store)
    os.makedirs(os.path.dirname(logfile), exist_ok=True)
    _rotate(logfile)
    argv = [sys.executable, "-m", "lrms.agent", "--store", os.path.abspath(store)]
    if config is not None:
        argv += ["--config", os.path.abspath(config)]
    if max_in_flight is not None:
        argv += ["--max-in-flight", str(max_in_flight)]
    if retries:
        argv += ["--retries", str(retries)]
    with open(logfile, "ab") as out, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            argv, stdin=devnull, stdout=out, stderr=out, start_new_session=True,
            close_fds=True, cwd=os.path.dirname(os.path.abspath(store)) or "/")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = running(store)
        if found is not None and found.pid:
            return found
        if process.poll() is not None and running(store) is None:
            raise OSError(f"the agent of job store {store} exited at once (code "
                          f"{process.returncode}); see its log {logfile}")
        time.sleep(0.01)
    raise OSError(f"the agent of job store {store} did not start within {START_TIMEOUT:.0f} s; "
                  f"see its log {logfile}")


def _rotate(logfile: str) -> None:
    with contextlib.suppress(OSError):
        if os.path.getsize(logfile) > _LOG_LIMIT:
            os.replace(logfile, logfile + ".1")


def stop(store: str, timeout: float = 30.0) -> AgentInfo | None:
    """Ask the running agent of ``store`` to stop (SIGTERM: it ends its round and
    exits; jobs keep running); wait up to ``timeout`` s.  Return the agent that
    was stopped (None if none ran); :class:`TimeoutError` if it is still running."""
    found = running(store)
    if found is None:
        return None
    if found.host != socket.gethostname() or not found.pid:
        raise OSError(f"the agent of job store {store} runs on {found.host} (pid {found.pid}): "
                      "stop it there")
    with contextlib.suppress(ProcessLookupError):
        os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running(store) is not None:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the agent of job store {store} (pid {found.pid}) is still "
                               f"running after {timeout:.0f} s")
        time.sleep(0.05)
    return found


# -- the agent process ----------------------------------------------------------


class _Stop(Exception):
    """SIGTERM or SIGINT: leave after the current round."""


def _take_lock(store: str, config: str | None) -> int | None:
    """The locked, filled-in lock file, or None if another agent holds it."""
    fd = os.open(lock_path(store), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
              "store": os.path.abspath(store), "config": config, "log": log_path(store)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)
    return fd


def serve(store: str, config: str | None, *, max_in_flight: int | None = None,
          retries: int = 0, linger: float | None = None) -> int:
    """Be the agent of ``store``: run rounds until idle for ``linger`` seconds
    (default: the configuration's ``agent.linger``)."""
    from .engine import Engine
    from .errors import LRMSError

    lock = _take_lock(store, config)
    if lock is None:
        log.info("another agent holds %s; exiting", lock_path(store))
        return 0

    def stopping(signum: int, _: Any) -> None:
        raise _Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log.info("agent %d started for job store %s (configuration: %s)", os.getpid(),
             os.path.abspath(store), config or "built-in")
    engine = None
    last: tuple[int, float] | None = None
    try:
        engine = Engine(config, store, max_in_flight=max_in_flight or 100, retries=retries)
        last = _loop(engine, engine.config.agent["linger"].seconds if linger is None else linger)
    except _Stop as why:
        log.info("agent %d stopped (%s); jobs keep running", os.getpid(), why)
    except LRMSError as exc:
        log.error("agent %d: %s", os.getpid(), exc)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if engine is not None:
            engine.close()
        os.close(lock)
    if last is not None:
        _hand_over(store, config, last, max_in_flight=max_in_flight, retries=retries)
    return 0


def _hand_over(store: str, config: str | None, last: tuple[int, float], *,
               max_in_flight: int | None, retries: int) -> None:
    """After an idle agent let go of its lock: if the store changed since its last round
    (a submission that saw this agent still running), start the next agent."""
    from .store import JobStore

    with JobStore(store) as jobs:
        if jobs.fingerprint() == last or not jobs.counts().get("NEW"):
            return
    log.info("agent %d: jobs were added as it stopped; starting the next agent", os.getpid())
    try:
        start(store, config, max_in_flight=max_in_flight, retries=retries)
    except OSError as exc:
        log.error("agent %d: %s", os.getpid(), exc)


def _loop(engine: Engine, linger: float) -> tuple[int, float]:
    """Rounds, each after a wake-up: a local job ended, another process changed the
    store, or the next poll is due; until nothing is active and nothing was
    submitted for ``linger`` seconds, and nobody changed the store meanwhile.
    Returns the store's fingerprint as of the last round."""
    from .engine import Round

    urgent: frozenset[str] = frozenset()
    progressed = logged = time.monotonic()
    tally = Round()
    while True:
        version = engine.store.version()
        done = engine.progress(urgent)
        for text in done.errors:
            log.warning("%s", text)
        for name in ("submitted", "terminated", "fetched", "unfetched", "resubmitted"):
            getattr(tally, name).extend(getattr(done, name))
        if done.submitted or done.changed or done.fetched:
            progressed = time.monotonic()
        active = sum(engine.store.active_by_resource().values())
        if active:
            progressed = time.monotonic()
        idle = not active and time.monotonic() - progressed >= linger
        if (tally.submitted or tally.terminated or tally.unfetched) and (
                idle or time.monotonic() - logged >= LOG_EVERY):
            log.info("%d submitted, %d ended, %d fetched, %d not fetched; now %s",
                     len(tally.submitted), len(tally.terminated), len(tally.fetched),
                     len(tally.unfetched), _counts(done.counts))
            tally, logged = Round(), time.monotonic()
        if idle and engine.store.version() == version:  # else another round first
            log.info("agent %d: no active job for %.0f s; exiting", os.getpid(), linger)
            return engine.store.fingerprint()  # nobody else wrote since the round began
        urgent = frozenset()
        deadline = time.monotonic() + next_poll(engine, active)
        while not urgent and time.monotonic() < deadline:
            urgent = engine.pause(min(TICK, max(0.0, deadline - time.monotonic())))
            now = engine.store.version()
            if now != version:
                version = now
                break


def next_poll(engine: Engine, active: int) -> float:
    """Seconds until a round is worth running: the earliest poll due of a resource
    with active jobs (at least ``TICK``: a resource asked every round, such as local
    shellcmd, wakes the agent through its watched jobs instead; at most a minute),
    a moment when nothing is active."""
    if not active:
        return 1.0
    now = time.time()
    polls = engine.store.polls()
    waits = []
    for name in engine.store.active_by_resource():
        poll = polls.get(name)
        interval = engine.resource(name).poll_interval \
            if name in engine.config.resource_names else 60.0
        waits.append(0.0 if poll is None else poll.next_due(interval) - now)
    return max(TICK, min([60.0, *waits]))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no jobs"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lrms.agent --store PATH [--config FILE]``: run as the store's agent."""
    parser = argparse.ArgumentParser(prog="python -m lrms.agent",
                                     description="Run as the agent of one job store "
                                                 "(started by 'lrms submit').")
    parser.add_argument("--store", required=True)
    parser.add_argument("--config")
    parser.add_argument("--max-in-flight", type=int)
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--linger", type=float)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    for name in ("lrms.engine", "lrms.resource"):  # the agent logs a summary per round
        logging.getLogger(name).setLevel(logging.WARNING)
    return serve(args.store, args.config, max_in_flight=args.max_in_flight,
                 retries=args.retries, linger=args.linger)


if __name__ == "__main__":
    sys.exit(main())
