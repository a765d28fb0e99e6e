"""``lrms cancel``, ``release``, ``fetch``, ``peek``, ``free`` and ``clean``: acting on
stored jobs."""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
import time
from collections.abc import Callable

from ..errors import LRMSError
from ..job import Job
from ..sandbox import SandboxBackend
from ..state import State
from ..store import ACTIVE
from . import background
from .render import job_dict, print_json, terminal_text
from .session import (
    EXIT_OK,
    Session,
    UsageError,
    describe,
    error,
    exit_code,
    note,
)

NOT_ENDED = (State.NEW, *ACTIVE)


def _each(session: Session, jobs: list[Job], action: Callable[[Job], str | None]) -> int:
    """Apply ``action`` to every job, reporting each failure; the worst exit code.

    ``action`` returns a line to print for the job (or None).
    """
    code = EXIT_OK
    for job in jobs:
        try:
            line = action(job)
        except (LRMSError, OSError, ValueError, UsageError) as exc:
            text = describe(exc, session.store.path)
            error(text if job.jobid in text else f"job {job.jobid}: {text}")
            code = max(code, exit_code(exc))
        else:
            if line:
                print(terminal_text(line), flush=True)
    return code


def _each_reported(session: Session, args: argparse.Namespace, jobs: list[Job],
                   action: Callable[[Job], str | None], verb: str) -> int:
    """:func:`_each`, then the jobs as they are now with ``--json``; a note if none."""
    code = _each(session, jobs, action)
    if args.json:
        print_json([job_dict(session.engine().get(job.jobid)) for job in jobs])
    if not jobs:
        note(f"no job to {verb}")
    return code


def cancel(session: Session, args: argparse.Namespace) -> int:
    jobs = session.pick(args.jobids, tag=args.tag, states=NOT_ENDED, everything=args.everything,
                        how="--tag TAG, or --all-active")
    engine = session.engine()
    whole = {job.jobid for job in engine.cancel_arrays(jobs)}  # one request per array

    def one(job: Job) -> str | None:
        if job.state == State.TERMINATED:
            note(f"job {job.jobid} has already terminated")
            return None
        if job.jobid not in whole:
            engine.cancel(job)
        return None if args.json else f"{job.jobid}  {job.state.value}"

    return _each_reported(session, args, jobs, one, "cancel")


def release(session: Session, args: argparse.Namespace) -> int:
    jobs = session.pick(args.jobids, tag=args.tag, states=NOT_ENDED, how="--tag TAG")
    if not args.jobids:
        jobs = [job for job in jobs if job.app.hold]
    engine = session.engine()

    def one(job: Job) -> str | None:
        engine.release(job)
        return None if args.json else f"{job.jobid}  released"

    code = _each_reported(session, args, jobs, one, "release")
    background.ensure(session, engine)  # the agent submits the jobs the engine held
    return code


def fetch(session: Session, args: argparse.Namespace) -> int:
    jobs = session.pick(args.jobids, tag=args.tag)
    engine = session.engine()
    written: dict[str, list[str]] = {}

    def one(job: Job) -> str | None:
        target = None
        if args.dir is not None:
            target = os.path.abspath(args.dir if len(jobs) == 1
                                     else os.path.join(args.dir, job.jobid))
        paths = engine.fetch(job, overwrite=args.overwrite, changed_only=args.changed_only,
                             download_dir=target)
        written[job.jobid] = paths
        if args.json:
            return None
        if not paths:
            where = target or job.output_dir
            return (f"{job.jobid}: nothing new in {where}"
                    + ("" if args.overwrite else " (existing files are kept; --overwrite "
                       "replaces them)"))
        return "\n".join(paths)

    code = _each(session, jobs, one)
    if args.json:
        print_json([{"jobid": jobid, "written": paths} for jobid, paths in written.items()])
    return code


def peek(session: Session, args: argparse.Namespace) -> int:
    engine = session.engine()
    job = engine.get(args.jobid)
    name = args.file or job.app.stdout
    if args.size is not None and args.size < 0:
        raise UsageError(f"--size must be 0 or more, got {args.size}")
    out = sys.stdout.buffer
    sys.stdout.flush()
    if not args.follow:
        try:
            engine.peek(job, name, out, args.offset, args.size)
        except FileNotFoundError:
            raise UsageError(f"job {job.jobid} ({job.state.value}) has no file {name!r} in its "
                             "sandbox (yet)") from None
        out.flush()
        return EXIT_OK
    return _follow(session, job, name, args)


def _follow(session: Session, job: Job, name: str, args: argparse.Namespace) -> int:
    """Print new bytes of a sandbox file until the job has terminated."""
    engine = session.engine()
    out = sys.stdout.buffer
    position: int | None = None
    left = args.size
    while True:
        ended = job.state == State.TERMINATED
        if job.native_id is not None:
            if position is None:
                position = _start(session, job, name, args.offset)
            if position is not None:
                try:
                    count = engine.peek(job, name, out, position, left)
                except FileNotFoundError:
                    count = 0
                out.flush()
                position += count
                if left is not None:
                    left -= count
                    if left <= 0:
                        return EXIT_OK
        if ended:
            if position is None:
                raise UsageError(f"job {job.jobid} terminated without a file {name!r} in its "
                                 "sandbox")
            return EXIT_OK
        time.sleep(args.interval)
        session.report(engine.progress())
        job = engine.get(job.jobid)


def _start(session: Session, job: Job, name: str, offset: int) -> int | None:
    """The byte ``offset`` stands for in the file now (None while the file does not exist)."""
    if offset >= 0:
        return offset
    resource = session.engine().resource(job.resource or "")
    if not isinstance(resource.backend, SandboxBackend) or job.sandbox is None:
        raise UsageError(f"--follow with a negative --offset needs a sandbox backend; "
                         f"resource {resource.name} uses {resource.backend_name}")
    try:
        size = resource.transport.stat(posixpath.join(job.sandbox, name)).size
    except FileNotFoundError:
        return None
    return max(0, size + offset)


def _free(session: Session, job: Job, force: bool, command: str) -> bool:
    """Delete a terminated job's sandbox; True if there was one.

    A sandbox holding outputs never fetched is kept unless ``force``, which
    says what it deletes.
    """
    if job.native_id is None or job.sandbox is None:
        return False
    if job.unfetched:
        outputs = ", ".join(job.app.outputs)
        if not force:
            why = f" ({job.fetch_error})" if job.fetch_error else ""
            raise UsageError(
                f"job {job.jobid}: its outputs {outputs} were never fetched{why}; its sandbox "
                f"is kept: '{session.command('fetch', job.jobid)}' copies them, "
                f"'{session.command(command, '--force', job.jobid)}' deletes them")
        note(f"job {job.jobid}: deleting its sandbox {job.resource}:{job.sandbox} with the "
             f"outputs never fetched ({outputs})")
    session.engine().free(job, force=force)
    return True


def free(session: Session, args: argparse.Namespace) -> int:
    jobs = session.pick(args.jobids, tag=args.tag, states=[State.TERMINATED],
                        everything=args.everything, how="--tag TAG, or --all-terminated")
    freed: list[str] = []

    def one(job: Job) -> str | None:
        if job.state != State.TERMINATED:
            raise UsageError(f"job {job.jobid} is {job.state.value}: only a TERMINATED job can "
                             f"be freed (cancel it first: {session.command('cancel', job.jobid)})")
        if not _free(session, job, args.force, "free"):
            return None if args.json else f"{job.jobid}: nothing to free"
        freed.append(job.jobid)
        return None if args.json else f"{job.jobid}: freed"

    code = _each(session, jobs, one)
    if args.json:
        print_json(freed)
    return code


def _attempts(session: Session, job: Job) -> list[Job]:
    """The job and its earlier attempts."""
    chain = [job]
    while chain[-1].retry_of:
        try:
            chain.append(session.store.get(chain[-1].retry_of))
        except LRMSError:
            break
    return chain


def clean(session: Session, args: argparse.Namespace) -> int:
    if args.force and not args.jobids and args.tag is None:
        raise UsageError("clean --force forgets jobs in any state: name them (JOBID... or "
                         "--tag TAG)")
    if args.jobids:
        named = session.pick(args.jobids, tag=args.tag)
        jobs = {attempt.jobid: attempt for job in named for attempt in _attempts(session, job)}
    elif args.tag is not None or args.everything:
        states = None if args.force and not args.everything else [State.TERMINATED]
        jobs = {job.jobid: job for job in session.store.jobs(
            states=states, tag=args.tag, current_only=False)}
    else:
        raise UsageError("clean: name the jobs: JOBID..., --tag TAG, or --all-terminated")
    forget: list[Job] = []
    freed: list[Job] = []

    def one(job: Job) -> str | None:
        if job.state != State.TERMINATED:
            if not args.force:
                raise UsageError(
                    f"job {job.jobid} is {job.state.value}: only a TERMINATED job can be cleaned "
                    f"(cancel it first, or forget it with "
                    f"{session.command('clean', '--force', job.jobid)})")
            note(f"job {job.jobid} ({job.state.value} on {job.resource}) is forgotten; "
                 "it is no longer followed")
        elif not args.no_free:
            try:
                if _free(session, job, args.force, "clean"):
                    freed.append(job)
            except LRMSError as exc:
                if not args.force:
                    raise
                note(f"job {job.jobid} is forgotten; its sandbox {job.resource}:{job.sandbox} "
                     f"is left: {exc}")
        forget.append(job)
        return None

    code = _each(session, list(jobs.values()), one)
    removed = session.store.remove(forget) if forget else 0
    if args.json:
        print_json([job.jobid for job in forget])
    else:
        print(f"forgot {removed} job(s)" + (", their sandboxes deleted" if freed else ""),
              flush=True)
    return code
