"""The job store: every job lrms manages, in one SQLite file shared by processes.

Default path ``$XDG_DATA_HOME/lrms/jobs.db`` (``~/.local/share/lrms/jobs.db``),
or ``$LRMS_STORE``.  The database runs in WAL mode; every change is one
transaction, so several ``lrms`` processes can use one store at once.  A job
is recorded *before* it is submitted; a process about to submit it first
*claims* it (:meth:`JobStore.claim`), so no two processes submit one job, and
a claim left by a process that died mid-submission is found by
:meth:`JobStore.stale_claims`.

The store also shares status queries between processes: before asking a
resource for its jobs' states, a process claims the resource's *poll*
(:meth:`JobStore.claim_poll`); within the resource's poll interval, or while
it backs off after a failed query, every other process uses the states
already stored instead of asking again.

A file that is not an lrms store, or one written by a newer lrms (a higher
schema version), is refused and never modified; so is a damaged one
(``database disk image is malformed``): a process checks the file
(``PRAGMA quick_check``) before it first writes to it.  A row whose record
cannot be read (invalid JSON, not a job, another job's record) is skipped by
every listing and reported once through ``on_unreadable``; it is never
rewritten, and :meth:`JobStore.get` refuses it with the same message.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import shlex
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import LRMSError, StoreError, UnknownJob
from .job import Job
from .state import State

__all__ = ["SCHEMA_VERSION", "JobStore", "Poll", "default_store_path"]

SCHEMA_VERSION = 1
_APPLICATION_ID = 0x6C726D73  # "lrms": marks the file as an lrms store

# MIGRATIONS[n] brings a store from schema n-1 to n.
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        jobid TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        resource TEXT,
        native_id TEXT,
        name TEXT NOT NULL,
        tag TEXT,
        claim TEXT,
        attempt INTEGER NOT NULL DEFAULT 1,
        retry_of TEXT,
        replaced_by TEXT,
        output_dir TEXT,
        fetched REAL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX jobs_state ON jobs (state);
    CREATE INDEX jobs_resource ON jobs (resource);
    CREATE INDEX jobs_tag ON jobs (tag);
    """,
}

_INSERT = (
    "INSERT INTO jobs (jobid, state, resource, native_id, name, tag, attempt, retry_of, "
    "replaced_by, output_dir, fetched, updated, data, created) VALUES (:jobid, :state, "
    ":resource, :native_id, :name, :tag, :attempt, :retry_of, :replaced_by, :output_dir, "
    ":fetched, :updated, :data, :updated)"
)
_SET = (
    "UPDATE jobs SET state=:state, resource=:resource, native_id=:native_id, name=:name, "
    "tag=:tag, attempt=:attempt, retry_of=:retry_of, replaced_by=:replaced_by, "
    "output_dir=:output_dir, fetched=:fetched, updated=:updated, data=:data"
)
_UPDATE = _SET + " WHERE jobid=:jobid"
_UPDATE_RELEASE = _SET + ", claim=NULL WHERE jobid=:jobid"

log = logging.getLogger(__name__)

# Terminated jobs never fetched that declare outputs (a row whose data is not JSON is
# included, for the caller to name as unreadable).
_UNFETCHED = (
    "SELECT seq, jobid, data FROM jobs WHERE state = ? AND fetched IS NULL AND native_id IS "
    "NOT NULL AND output_dir IS NOT NULL AND CASE WHEN json_valid(data) THEN "
    "coalesce(json_array_length(data, '$.app.outputs'), 0) ELSE 1 END > 0 ORDER BY seq"
)

ACTIVE = (State.SUBMITTED, State.RUNNING, State.STOPPED, State.TERMINATING, State.UNKNOWN)
_STALE_CLAIM = 3600.0  # a claim this old is stale even if its owner looks alive
_MAX_BACKOFF = 600.0  # seconds: the longest pause after failed queries of a resource
_POLL_KEY = "poll:"  # meta rows "poll:<resource>" hold a Poll as JSON
# What reading a damaged record can raise (json.JSONDecodeError is a ValueError).
_BAD_RECORD = (ValueError, TypeError, KeyError, AttributeError, IndexError, LRMSError)


def default_store_path() -> str:
    """``$LRMS_STORE``, else ``$XDG_DATA_HOME/lrms/jobs.db``."""
    if os.environ.get("LRMS_STORE"):
        return os.path.abspath(os.path.expanduser(os.environ["LRMS_STORE"]))
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data_home, "lrms", "jobs.db")


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{time.time():.3f}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text, _, stamp = rest.partition(":")
    try:
        if time.time() - float(stamp) > _STALE_CLAIM:
            return False
        if host != socket.gethostname():
            return True  # cannot tell: trust it until it is old
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True


@dataclasses.dataclass
class Poll:
    """The last status query of one resource, shared by every process using the store."""

    #: when the last query was claimed (time.time()), and by which process
    at: float = 0.0
    by: str = ""
    #: queries that failed in a row, and when the next may be tried
    failures: int = 0
    retry_at: float = 0.0
    error: str | None = None

    def next_due(self, interval: float) -> float:
        """When (time.time()) the next query may be made: past the interval and any back-off."""
        return max(self.retry_at, self.at + interval)

    def backing_off(self, now: float) -> bool:
        """True while queries wait after failures (even an urgent one)."""
        return now < self.retry_at


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many jobs are decoded: they hold no
    cycles, and collections while they are made would only cost time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """True for SQLite's "database disk image is malformed" (SQLITE_CORRUPT)."""
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    return name == "SQLITE_CORRUPT" if name is not None else "malformed" in str(exc)


def _why(exc: Exception) -> str:
    if isinstance(exc, ValueError) and exc.__class__.__name__ == "JSONDecodeError":
        return f"invalid JSON: {exc}"
    return f"not a job record: {type(exc).__name__}: {exc}"


class JobStore:
    """Jobs by id, with the engine's bookkeeping (see :class:`~lrms.Job`).

    ``on_unreadable`` receives one message per unreadable row met (default: a
    logged warning); ``unreadable`` maps their job ids to those messages.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_unreadable: Callable[[str], None] | None = None,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path)) if path is not None else default_store_path()
        self.on_unreadable: Callable[[str], None] = on_unreadable or log.warning
        self.unreadable: dict[str, str] = {}
        self._checked = False
        existed = os.path.exists(self.path)
        if not existed:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        elif os.path.isdir(self.path):
            raise StoreError(f"job store {self.path} is a directory; give a file path")
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open job store {self.path}: {exc}") from None
        try:
            self._open(existed)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._refusal(exc) from None
        except BaseException:
            self._db.close()
            raise

    def _open(self, existed: bool) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if existed and tables and app_id != _APPLICATION_ID:
            raise StoreError(
                f"{self.path} is an SQLite file but not an lrms job store; it was left "
                "untouched: choose another path with --store / LRMS_STORE")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"job store {self.path} has schema version {version}, newer than this lrms "
                f"understands ({SCHEMA_VERSION}); upgrade lrms (the file was left untouched)")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        if version < SCHEMA_VERSION:
            with self.transaction():
                version = db.execute("PRAGMA user_version").fetchone()[0]  # another process?
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[step].split(";"):
                        if statement.strip():
                            db.execute(statement)
                if version == 0:
                    db.execute("INSERT INTO meta VALUES ('created', ?)", (str(time.time()),))
                db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _refusal(self, exc: sqlite3.DatabaseError) -> StoreError:
        """The error for a file SQLite cannot read; it says what to do."""
        if _damaged(exc):
            return self._damage(str(exc))
        return StoreError(
            f"{self.path} is not a usable lrms job store ({exc}); it was left untouched: "
            "move it away or choose another with --store / LRMS_STORE")

    def _damage(self, problem: str) -> StoreError:
        root, _ = os.path.splitext(self.path)
        recover = (f"sqlite3 {shlex.quote(self.path)} .recover | "
                   f"sqlite3 {shlex.quote(root + '-recovered.db')}")
        return StoreError(
            f"job store {self.path} is damaged ({problem}); it was left untouched: recover its "
            f"jobs with '{recover}' and use that file with --store / LRMS_STORE, or move the "
            "damaged file aside to start a new store")

    @contextmanager
    def _guarded(self) -> Iterator[sqlite3.Connection]:
        """The connection; a damaged file raises :meth:`_refusal`'s error."""
        try:
            yield self._db
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            raise self._refusal(exc) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._guarded() as db:
            return db.execute(sql, params).fetchall()

    def check(self) -> None:
        """Raise :class:`StoreError` if the file is damaged (``PRAGMA quick_check``).

        Done once per store object, at the latest before its first write.
        """
        if self._checked:
            return
        problems = [row[0] for row in self._query("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise self._damage(f"database disk image is malformed: {problems[0]}")
        self._checked = True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: writers queue, readers go on)."""
        self.check()
        with self._guarded() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------

    @staticmethod
    def _row(job: Job) -> dict[str, Any]:
        return {
            "jobid": job.jobid, "state": job.state.value, "resource": job.resource,
            "native_id": job.native_id, "name": job.app.jobname or "job", "tag": job.tag,
            "attempt": job.attempt, "retry_of": job.retry_of, "replaced_by": job.replaced_by,
            "output_dir": job.output_dir, "fetched": job.fetched, "updated": time.time(),
            "data": job.to_json(),
        }

    def _insert(self, db: sqlite3.Connection, job: Job) -> None:
        try:
            db.execute(_INSERT, self._row(job))
        except sqlite3.IntegrityError:
            raise StoreError(f"job {job.jobid} is already in {self.path}") from None

    def _update(self, db: sqlite3.Connection, job: Job, release: bool = False) -> None:
        db.execute(_UPDATE_RELEASE if release else _UPDATE, self._row(job))

    def add(self, jobs: Sequence[Job]) -> None:
        """Record new jobs (all or none)."""
        with self.transaction() as db:
            for job in jobs:
                self._insert(db, job)

    def save(self, jobs: Iterable[Job], *, release: bool = False) -> None:
        """Write the jobs' current state (one transaction); ``release`` drops their claims."""
        with self.transaction() as db:
            for job in jobs:
                self._update(db, job, release)

    def claim(self, job: Job, resource: str) -> bool:
        """Mark a NEW job as being submitted to ``resource`` by this process.

        False if another process claimed or submitted it first.  The claim is
        recorded (committed) before the caller contacts the resource.
        """
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET claim=?, resource=?, updated=? WHERE jobid=? AND state='NEW' "
                "AND claim IS NULL AND native_id IS NULL",
                (_owner(), resource, time.time(), job.jobid))
            return cursor.rowcount == 1

    def release(self, job: Job) -> None:
        """Drop this process's claim on a job it did not submit after all."""
        with self.transaction() as db:
            db.execute("UPDATE jobs SET claim=NULL, resource=NULL WHERE jobid=? AND "
                       "native_id IS NULL", (job.jobid,))

    def stale_claims(self) -> list[Job]:
        """Jobs claimed for submission by a process that is gone (no native id recorded)."""
        rows = self._query(
            "SELECT claim, resource, seq, jobid, data FROM jobs WHERE claim IS NOT NULL AND "
            "native_id IS NULL")
        jobs = []
        for claim, resource, *row in rows:
            if not _owner_alive(claim):
                job = self._readable(*row)
                if job is not None:
                    job.resource = resource
                    jobs.append(job)
        return jobs

    def replace(self, old: Job, new: Job) -> None:
        """Record ``new`` as the next attempt of ``old`` (one transaction)."""
        old.replaced_by, new.retry_of, new.attempt = new.jobid, old.jobid, old.attempt + 1
        with self.transaction() as db:
            self._insert(db, new)
            self._update(db, old)

    def remove(self, jobs: Iterable[Job]) -> int:
        """Forget jobs; return how many were removed."""
        with self.transaction() as db:
            return sum(db.execute("DELETE FROM jobs WHERE jobid=?", (job.jobid,)).rowcount
                       for job in jobs)

    # -- reading ----------------------------------------------------------------

    def _decode(self, seq: int, jobid: str, data: Any) -> Job | str:
        """The row's job, or why it cannot be read (a message naming the job and this file)."""
        try:
            job = Job.from_json(data)
            if job.jobid != jobid:
                raise ValueError(f"it holds the record of job {job.jobid!r}")
        except _BAD_RECORD as exc:
            delete = f"DELETE FROM jobs WHERE seq = {int(seq)}"  # noqa: S608 (shown, never run)
            forget = shlex.join(["sqlite3", self.path, delete])
            return (f"job {jobid} in job store {self.path} cannot be read ({_why(exc)}); it is "
                    f"skipped and left untouched: repair its row, or delete it with: {forget}")
        return job

    def _readable(self, seq: int, jobid: str, data: Any) -> Job | None:
        """The row's job; None (reported once through ``on_unreadable``) if unreadable."""
        job = self._decode(seq, jobid, data)
        if isinstance(job, Job):
            return job
        if jobid not in self.unreadable:
            self.unreadable[jobid] = job
            self.on_unreadable(job)
        return None

    def jobs(
        self,
        *,
        states: Iterable[State | str] | None = None,
        resource: str | None = None,
        tag: str | None = None,
        current_only: bool = True,
    ) -> list[Job]:
        """Stored jobs in submission order, filtered; ``current_only`` hides replaced attempts."""
        where, params = [], []
        if states is not None:
            names = [State(s).value for s in states]
            where.append(f"state IN ({','.join('?' * len(names))})")
            params += names
        if resource is not None:
            where.append("resource = ?")
            params.append(resource)
        if tag is not None:
            where.append("tag = ?")
            params.append(tag)
        if current_only:
            where.append("replaced_by IS NULL")
        sql = "SELECT seq, jobid, data FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with _collector_paused():
            jobs = (self._readable(*row) for row in self._query(sql + " ORDER BY seq", params))
            return [job for job in jobs if job is not None]

    def unfetched(self) -> list[Job]:
        """Terminated jobs with declared outputs that were never fetched (the candidates
        for :attr:`Job.unfetched`; the caller checks it), with one query."""
        rows = self._query(_UNFETCHED, (State.TERMINATED.value,))
        jobs = (self._readable(*row) for row in rows)
        return [job for job in jobs if job is not None]

    def get(self, ident: str) -> Job:
        """The job with id ``ident``, or the one whose id ends with it (unique suffix)."""
        rows = self._query("SELECT seq, jobid, data FROM jobs WHERE jobid = ?", (ident,))
        if not rows and len(ident) >= 4 and "%" not in ident and "_" not in ident:
            rows = self._query("SELECT seq, jobid, data FROM jobs WHERE jobid LIKE ? LIMIT 2",
                               ("%" + ident,))
            if len(rows) > 1:
                raise UnknownJob(f"job id {ident!r} is ambiguous in {self.path}: give more of it")
        if not rows:
            raise UnknownJob(
                f"no job {ident!r} in job store {self.path} (is it from another store? "
                "choose it with --store or LRMS_STORE; 'lrms status' lists this store's jobs)")
        job = self._decode(*rows[0])
        if isinstance(job, str):
            raise StoreError(job)
        return job

    def iter_jobs(self, state: State, *, batch: int = 64) -> Iterator[Job]:
        """Current jobs in ``state``, in submission order, read ``batch`` rows at a time
        (a caller that stops early does not decode the rest)."""
        last = 0
        while True:
            rows = self._query(
                "SELECT seq, jobid, data FROM jobs WHERE state = ? AND replaced_by IS NULL AND "
                "seq > ? ORDER BY seq LIMIT ?", (state.value, last, batch))
            for row in rows:
                job = self._readable(*row)
                if job is not None:
                    yield job
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def states_of(self, jobids: Sequence[str]) -> dict[str, tuple[State, str | None]]:
        """State and ``replaced_by`` of each job named (no record decoded: cheap to repeat)."""
        found: dict[str, tuple[State, str | None]] = {}
        for start in range(0, len(jobids), 500):
            chunk = list(jobids[start:start + 500])
            rows = self._query(
                f"SELECT jobid, state, replaced_by FROM jobs WHERE jobid IN "  # noqa: S608
                f"({','.join('?' * len(chunk))})", chunk)
            for jobid, state, replaced_by in rows:
                try:
                    found[jobid] = (State(state), replaced_by)
                except ValueError:
                    continue  # an unreadable row: reported when the job is read
        return found

    def fingerprint(self) -> tuple[int, float]:
        """The newest row and the latest change (comparable across connections)."""
        row = self._query("SELECT coalesce(max(seq), 0), coalesce(max(updated), 0) FROM jobs")
        return int(row[0][0]), float(row[0][1])

    def version(self) -> int:
        """A number that changes whenever another connection commits a change."""
        return int(self._query("PRAGMA data_version")[0][0])

    # -- shared status queries ------------------------------------------------

    def poll(self, resource: str) -> Poll:
        """The last status query of ``resource`` (an empty :class:`Poll` if none)."""
        with self._guarded() as db:
            return self._read_poll(db, resource)

    @classmethod
    def _read_poll(cls, db: sqlite3.Connection, resource: str) -> Poll:
        rows = db.execute("SELECT value FROM meta WHERE key = ?",
                          (_POLL_KEY + resource,)).fetchall()
        return cls._poll(rows[0][0] if rows else None)

    @staticmethod
    def _poll(text: str | None) -> Poll:
        if text is None:
            return Poll()
        try:
            fields = json.loads(text)
            return Poll(**{f.name: fields[f.name] for f in dataclasses.fields(Poll)
                           if f.name in fields})
        except (ValueError, TypeError):
            return Poll()  # an unreadable record is replaced by the next query

    def polls(self) -> dict[str, Poll]:
        """Every resource's last status query."""
        rows = self._query("SELECT key, value FROM meta WHERE key LIKE 'poll:%' ORDER BY key")
        return {key[len(_POLL_KEY):]: self._poll(value) for key, value in rows}

    def claim_poll(self, resource: str, interval: float, *, force: bool = False) -> bool:
        """Claim the status query of ``resource`` for this process.

        False while the last query is younger than ``interval`` seconds, or
        while queries back off after failures (``force`` ignores the interval,
        never the back-off): the states in the store are then fresh enough.
        """
        now = time.time()
        if interval <= 0:  # asked in every round: only a back-off stops it (nothing written)
            return not self.poll(resource).backing_off(now)
        with self.transaction() as db:
            poll = self._read_poll(db, resource)
            if poll.backing_off(now) or not (force or now >= poll.next_due(interval)):
                return False
            poll.at, poll.by = now, _owner()
            self._put_poll(db, resource, poll)
        return True

    def poll_done(self, resource: str, error: str | None = None, *,
                  interval: float = 0.0) -> Poll:
        """Record how the claimed query of ``resource`` went: an ``error`` makes the
        next query wait, doubling with each failure in a row (from ``interval``, at
        least 5 s, at most 10 minutes); success ends the back-off."""
        if error is None:
            poll = self.poll(resource)
            if not (poll.failures or poll.error):
                return poll  # nothing to clear: no write
        with self.transaction() as db:
            poll = self._read_poll(db, resource)
            if error is None:
                poll.failures, poll.retry_at, poll.error = 0, 0.0, None
            else:
                poll.failures += 1
                pause = min(_MAX_BACKOFF, max(5.0, interval) * 2 ** (poll.failures - 1))
                poll.retry_at, poll.error = time.time() + pause, error
            self._put_poll(db, resource, poll)
        return poll

    @staticmethod
    def _put_poll(db: sqlite3.Connection, resource: str, poll: Poll) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   (_POLL_KEY + resource, json.dumps(dataclasses.asdict(poll))))

    def active_by_resource(self) -> dict[str, int]:
        """Number of active jobs (see ``ACTIVE``) per resource name."""
        rows = self._query(
            "SELECT coalesce(resource, ''), state, count(*) FROM jobs GROUP BY resource, state")
        active = {state.value for state in ACTIVE}
        counts: dict[str, int] = {}
        for resource, state, count in rows:
            if state in active:
                counts[resource] = counts.get(resource, 0) + count
        return counts

    def counts(self) -> dict[str, int]:
        """Number of current jobs by state name."""
        rows = self._query(
            "SELECT state, count(*) FROM jobs WHERE replaced_by IS NULL GROUP BY state")
        return {state: count for state, count in rows}
