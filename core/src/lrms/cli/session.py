"""What every command shares: the engine and job store, picking jobs, messages, exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    BackendNotFound,
    ConfigError,
    InvalidJobState,
    LimitExceeded,
    LRMSError,
    StoreError,
    UnknownJob,
)
from ..job import Job
from ..state import State
from ..store import ACTIVE, JobStore, default_store_path
from .render import terminal_text

if TYPE_CHECKING:
    from ..agent import AgentInfo
    from ..engine import Engine, Round

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RESOURCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TIMEOUT = 124  # lrms wait --timeout, as timeout(1)


class UsageError(Exception):
    """The command line cannot be carried out as given (exit code 2)."""


_USAGE_ERRORS = (UsageError, ConfigError, StoreError, UnknownJob, InvalidJobState, LimitExceeded,
                 BackendNotFound, ValueError, sqlite3.Error)


def exit_code(exc: BaseException) -> int:
    """2 for usage, configuration and store errors; 3 for resource, transport and disk errors."""
    return EXIT_USAGE if isinstance(exc, _USAGE_ERRORS) else EXIT_RESOURCE


def _say(prefix: str, text: str, more: Sequence[str] = ()) -> None:
    """One message on stderr; its text and ``more`` lines shown with :func:`terminal_text`."""
    lines = [prefix + terminal_text(text), *(terminal_text(line) for line in more)]
    print("\n".join(lines), file=sys.stderr, flush=True)


def error(text: str) -> None:
    _say("lrms: error: ", text)


def note(text: str, *more: str) -> None:
    """``lrms: text``, then each of ``more`` on a line of its own."""
    _say("lrms: ", text, more)


def describe(exc: BaseException, store: str) -> str:
    """One line for an error, naming the file for OS and store errors."""
    if isinstance(exc, sqlite3.Error):
        return f"job store {store}: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{exc.strerror}: {where}" if where else exc.strerror
    return str(exc) or type(exc).__name__


Handler = Callable[["Session", argparse.Namespace], int]


def run(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command's handler; turn errors into one line on stderr and an exit code."""
    session = Session(args)
    try:
        try:
            return handler(session, args)
        finally:
            session.close()
    except KeyboardInterrupt:
        note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away, e.g. lrms status | head
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (LRMSError, UsageError, ValueError, OSError, sqlite3.Error) as exc:
        if args.verbose >= 2:
            traceback.print_exc()
        text = describe(exc, args.store or default_store_path())
        if text not in session.said:  # e.g. an unreadable job, already named
            error(text)
        return exit_code(exc)


class Session:
    """One command's engine (made on first use), job store and warnings."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._engine: Engine | None = None
        self._store: JobStore | None = None
        self.said: set[str] = set()  # warnings and notices given (each once)
        self.round_errors: list[str] = []
        #: the store's agent as found (or started) when the engine was made; None: none
        self.agent: AgentInfo | None = None

    def engine(self, *, max_in_flight: int = 100, output_root: str = "lrms-output",
               fetch: bool = True, retries: int = 0, arrays: bool = True) -> Engine:
        """The engine over the configuration and the job store."""
        if self._engine is None:
            from ..engine import Engine

            store = self._store if self._store is not None else self.args.store
            self._engine = Engine(self.args.config, store, max_in_flight=max_in_flight,
                                  output_root=output_root, fetch=fetch, retries=retries,
                                  arrays=arrays)
            if self._store is None:
                self._store = self._engine.store
                self._opened(self._store)
            from .background import ensure  # an agent that died is restarted here

            self.agent = ensure(self, self._engine)
        return self._engine

    @property
    def store(self) -> JobStore:
        """The job store alone (no configuration needed)."""
        if self._store is None:
            self._store = JobStore(self.args.store)
            self._opened(self._store)
        return self._store

    def _opened(self, store: JobStore) -> None:
        store.on_unreadable = self.unreadable
        store.check()  # a damaged store is refused before anything is done

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        elif self._store is not None:
            self._store.close()
        self._engine = self._store = None

    # -- picking jobs ---------------------------------------------------------------

    def pick(self, ids: Sequence[str], *, tag: str | None = None,
             states: Iterable[State] | None = None, everything: bool = False,
             how: str = "--tag TAG") -> list[Job]:
        """Jobs by id (each must exist), else by tag or ``everything``, in ``states``."""
        if ids:
            found: dict[str, Job] = {}
            for ident in ids:
                job = self.store.get(ident)
                found.setdefault(job.jobid, job)
            return [job for job in found.values() if tag is None or job.tag == tag]
        if tag is None and not everything:
            raise UsageError(f"{self.args.command}: name the jobs: JOBID..., or {how}")
        return self.store.jobs(states=states, tag=tag)

    def unconfigured(self, jobs: Iterable[Job]) -> bool:
        """Report active jobs whose resource is no longer configured; True if any."""
        config = self.engine().config
        names = set(config.resource_names)
        lost: dict[str, list[str]] = {}
        for job in jobs:
            if job.state in ACTIVE and job.resource not in names:
                lost.setdefault(job.resource or "?", []).append(job.jobid)
        for resource, ids in lost.items():
            shown = " ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
            error(f"resource {resource!r} of {len(ids)} active job(s) ({shown}) is not in the "
                  f"configuration ({config.path or 'built-in default'}; configured: "
                  f"{', '.join(config.resource_names)}): their state cannot be followed; "
                  f"restore it in the configuration, or forget them with "
                  f"'{self.command('clean', '--force', *ids[:5])}'")
        return bool(lost)

    # -- messages ---------------------------------------------------------------------

    def warn(self, text: str) -> None:
        """Print a warning once per process."""
        if text not in self.said:
            self.said.add(text)
            _say("lrms: warning: ", text)

    def unreadable(self, text: str) -> None:
        """Name a job the store cannot read, once (an error about it is not repeated)."""
        if text not in self.said:
            self.said.add(text)
            note(text)

    def report(self, done: Round, *_: Any) -> None:
        """Warn about a round's errors (each once)."""
        self.round_errors += done.errors
        for text in done.errors:
            self.warn(text)

    def command(self, *words: str) -> str:
        """An ``lrms`` command line for this store and configuration (to show the user)."""
        parts = ["lrms"]
        if self.args.config:
            parts += ["--config", self.args.config]
        if self.args.store:
            parts += ["--store", self.args.store]
        return shlex.join([*parts, *words])

    def reattach(self, jobs: Sequence[Job], *also: str, why: str = "interrupted") -> None:
        """Say what became of ``jobs`` (as last read) that go on after Ctrl-C or a
        timeout (``why``), and how to reattach."""
        ids = [job.jobid for job in jobs]
        shown = ids if len(ids) <= 5 else []
        lines = [f"  {self.command(word, *shown)}" for word in ("wait", "status", *also)]
        starter = None
        if any(job.state == State.NEW for job in jobs) and self._engine is not None:
            from .background import ensure  # the agent starts them, if it is wanted

            found = ensure(self, self._engine)
            starter = None if found is None else f"the agent (pid {found.pid})"
        note(f"{why}: {going_on(jobs, starter)}; reattach with", *lines)


#: What becomes of jobs not yet submitted when no lrms process runs rounds (said after
#: Ctrl-C or a timeout).
NOT_STARTED = "they start when 'lrms wait' or 'lrms status' runs next"


def going_on(jobs: Sequence[Job], starter: str | None = None) -> str:
    """``3 job(s) keep running on their resources, 5 not yet started (...)``, with the
    jobs that already ended counted too; ``starter`` names the agent that starts the
    jobs not yet started (None: none runs)."""
    new = sum(job.state == State.NEW for job in jobs)
    ended = sum(job.state == State.TERMINATED for job in jobs)
    running = len(jobs) - new - ended
    parts = [f"{running} job(s) keep running on their resources"] if running else []
    if new:
        when = f"{starter} starts them as slots free" if starter else NOT_STARTED
        parts.append(f"{new}{'' if running else ' job(s)'} not yet started ({when})")
    if ended or not parts:
        parts.append(f"{ended}{'' if parts else ' job(s)'} already ended")
    return ", ".join(parts)
