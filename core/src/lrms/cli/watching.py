"""``lrms status`` and ``lrms wait``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..job import Job
from ..state import State
from .render import (
    Progress,
    colour_on,
    columns,
    counts,
    ending,
    is_terminal,
    job_dict,
    job_table,
    ok,
    print_json,
)
from .session import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RESOURCE,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Session,
    UsageError,
    error,
    note,
)

if TYPE_CHECKING:
    from ..engine import Round

CLEAR = "\x1b[H\x1b[2J"
#: Exit code of ``lrms wait --timeout`` when it gives up (as timeout(1)); the jobs go on.
#: How many jobs with unfetched outputs are named one by one (the rest are counted).
NAMED = 5


def _states(values: Sequence[str]) -> tuple[set[State], bool]:
    """``--state`` values (any case, comma-separated): the states, and whether FAILED was named."""
    states: set[State] = set()
    failed_only = False
    for value in values:
        for word in filter(None, (part.strip().upper() for part in value.split(","))):
            if word == "FAILED":
                failed_only = True
                continue
            try:
                states.add(State(word))
            except ValueError:
                known = " ".join(state.value for state in State)
                raise UsageError(f"--state {word}: unknown state (known: {known} FAILED)") \
                    from None
    return states, failed_only


def _select(session: Session, args: argparse.Namespace) -> list[Job]:
    states, failed_only = _states(args.state)
    if args.jobids:
        jobs = session.pick(args.jobids)
        if args.tag is not None:
            jobs = [job for job in jobs if job.tag == args.tag]
        if args.resource is not None:
            jobs = [job for job in jobs if job.resource == args.resource]
    else:
        jobs = session.store.jobs(states=None if failed_only else (states or None),
                                  resource=args.resource, tag=args.tag,
                                  current_only=not args.everything)
    if states or failed_only:
        jobs = [job for job in jobs if job.state in states or (failed_only and job.failed)]
    return jobs


def _columns(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The ``--format`` columns (None: the default ones)."""
    if args.format is None:
        return None
    if args.json:
        raise UsageError("--format chooses the table's columns; --json prints every field "
                         "(select them with a JSON tool such as jq)")
    try:
        return columns(args.format)
    except ValueError as exc:
        raise UsageError(f"--format: {exc}") from None


def _show(jobs: Sequence[Job], args: argparse.Namespace, names: Sequence[str] | None,
          clear: bool) -> None:
    """The jobs (the last ``--limit`` of them) as a table with a count of all, or as JSON."""
    shown = jobs if args.limit is None or args.limit >= len(jobs) else jobs[len(jobs) - args.limit:]
    if args.json:
        print_json([job_dict(job) for job in shown])
        return
    colour = colour_on(sys.stdout)
    text = job_table(shown, colour, names) if shown else ""
    summary = counts(jobs)
    if len(shown) < len(jobs):
        summary += f" (the last {len(shown)} shown)"
    if clear:
        sys.stdout.write(CLEAR + time.strftime("%H:%M:%S  ") + summary + "\n\n")
    if text:
        sys.stdout.write(text + "\n")
    if not clear:
        sys.stdout.write(summary + "\n")
    sys.stdout.flush()


def _unfetched(session: Session, jobs: Sequence[Job], say: Callable[[str], None]) -> int:
    """Say which terminated jobs' outputs were never fetched (the first few by name); how
    many."""
    missing = [job for job in jobs if job.unfetched]
    for job in missing[:NAMED]:
        why = f": {job.fetch_error}" if job.fetch_error else ""
        say(f"job {job.jobid} ({job.app.jobname}): outputs not fetched{why}; its sandbox is "
            f"kept and later rounds try again ('{session.command('fetch', job.jobid)}')")
    if len(missing) > NAMED:
        say(f"outputs of {len(missing) - NAMED} more terminated job(s) not fetched either; "
            f"their sandboxes are kept and later rounds try again "
            f"('{session.command('status', '--state', 'terminated')}' lists them)")
    return len(missing)


def status(session: Session, args: argparse.Namespace) -> int:
    names = _columns(args)
    if args.no_refresh and args.watch is None:
        jobs = _select(session, args)
        _show(jobs, args, names, clear=False)
        _unfetched(session, jobs, session.warn)
        return EXIT_OK
    from . import background  # not needed by --no-refresh

    engine = session.engine(max_in_flight=args.max_in_flight)
    clear = args.watch is not None and is_terminal(sys.stdout) and not args.json
    while True:
        if background.ensure(session, engine) is None:  # else the agent keeps the store
            session.report(engine.progress())
        jobs = _select(session, args)
        _show(jobs, args, names, clear)
        _unfetched(session, jobs, session.warn)
        if args.watch is None or all(job.state == State.TERMINATED for job in jobs):
            break
        time.sleep(args.watch)
    return EXIT_USAGE if session.unconfigured(jobs) else EXIT_OK


def wait(session: Session, args: argparse.Namespace) -> int:
    engine = session.engine(max_in_flight=args.max_in_flight, retries=args.retries)
    if args.jobids or args.tag is not None:
        current = session.pick(args.jobids, tag=args.tag)
    else:
        current = [job for job in session.store.jobs() if job.state != State.TERMINATED]
    if session.unconfigured(current):
        return EXIT_USAGE
    if not current:
        note("no job to wait for")
        if args.json:
            print_json([])
        return EXIT_OK
    progress = Progress(sys.stderr)
    latest = list(current)  # the jobs as the last round left them

    def on_round(done: Round, jobs: list[Job]) -> None:
        latest[:] = jobs
        progress.update(jobs)
        session.report(done)

    try:
        jobs = engine.wait(current, interval=args.interval, timeout=args.timeout,
                           on_round=on_round, drive=session.agent is None)
    except KeyboardInterrupt:
        progress.close()
        session.reattach(latest)
        return EXIT_INTERRUPTED
    except TimeoutError:
        progress.close()
        session.reattach(latest, why=f"stopped waiting after --timeout {args.timeout:g} s")
        if args.json:
            print_json([job_dict(job) for job in latest])
        return EXIT_TIMEOUT
    finally:
        progress.close()
    bad = [job for job in jobs if not ok(job)]
    for job in bad:
        why = f": {job.status_message}" if job.status_message else ""
        note(f"job {job.jobid} ({job.app.jobname}) ended: {ending(job)}{why}")
    lost = _unfetched(session, jobs, error)
    if args.json:
        print_json([job_dict(job) for job in jobs])
    else:
        note(f"{len(jobs)} job(s) terminated, {len(jobs) - len(bad)} ok, {len(bad)} not"
             + (f", outputs of {lost} not fetched" if lost else ""))
    if lost:
        return EXIT_RESOURCE
    return EXIT_FAILED if bad else EXIT_OK
