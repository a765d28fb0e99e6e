"""``lrms submit``, ``lrms run`` and ``lrms resubmit``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

from ..agent import AgentInfo
from ..engine import Engine
from ..errors import InvalidJobState, LRMSError
from ..job import Job
from ..state import State, TerminationReason
from . import apps, background, staging
from .render import job_dict, print_json
from .session import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RESOURCE,
    EXIT_USAGE,
    Session,
    UsageError,
    error,
    note,
)


def _resource(args: argparse.Namespace) -> str | None:
    return args.resource or os.environ.get("LRMS_RESOURCE") or None


def _outcome(session: Session, jobs: list[Job], limit: int,
             agent: AgentInfo | None) -> int:
    """Say what became of just-submitted jobs (``agent``: the store's agent, which
    submits the rest); the exit code."""
    refused = [job for job in jobs
               if job.termination_reason == TerminationReason.SUBMISSION_FAILED]
    for job in refused:
        error(f"job {job.jobid} ({job.app.jobname}): submission failed: {job.status_message}")
    waiting = [job for job in jobs if job.state == State.NEW]
    if waiting:
        why = f"resource busy or unreachable, or over --max-in-flight {limit}"
        if agent is not None:
            note(f"{len(waiting)} of {len(jobs)} job(s) wait to be submitted ({why}); the "
                 f"agent (pid {agent.pid}) submits them as slots free: "
                 f"'{session.command('agent', 'status')}'")
        else:
            note(f"{len(waiting)} of {len(jobs)} job(s) wait to be submitted ({why}); "
                 f"'{session.command('wait')}' or '{session.command('status')}' submits them")
    if refused:
        return EXIT_RESOURCE
    if waiting and session.round_errors:
        return EXIT_RESOURCE
    return EXIT_OK


def submit(session: Session, args: argparse.Namespace) -> int:
    if args.file:
        if apps.command_of(args):
            raise UsageError("submit --file takes the commands from the file: give no "
                             "command after '--'")
        applications = apps.from_file(args.file, apps.defaults(args), streams=True)
    elif args.params:
        applications = [staging.stage_command(app)
                        for app in apps.from_params(args.params, args, streams=True)]
    else:
        applications = [staging.stage_command(apps.from_options(args, streams=True))]
    engine = session.engine(max_in_flight=args.max_in_flight, output_root=args.output_dir,
                            arrays=args.arrays)
    jobs = engine.add(applications, resource=_resource(args), tag=args.tag)
    try:
        session.report(engine.progress())
    except KeyboardInterrupt:  # they are recorded: a later round submits the rest
        print("\n".join(job.jobid for job in jobs), flush=True)
        ids = {job.jobid for job in jobs}
        session.reattach([job for job in session.store.jobs(tag=args.tag) if job.jobid in ids])
        return EXIT_INTERRUPTED
    jobs = [engine.get(job.jobid) for job in jobs]
    if args.json:
        print_json([job_dict(job) for job in jobs])
    else:
        print("\n".join(job.jobid for job in jobs), flush=True)
    return _outcome(session, jobs, args.max_in_flight, background.ensure(session, engine))


def run(session: Session, args: argparse.Namespace) -> int:
    app = staging.stage_command(apps.from_options(args, streams=False))
    if not os.path.isdir(args.output_dir):
        raise UsageError(f"--output-dir {args.output_dir} does not exist")
    existing = [name for name in app.outputs
                if os.path.lexists(os.path.join(args.output_dir, name))]
    engine = session.engine(max_in_flight=args.max_in_flight)
    [job] = engine.add(app, resource=_resource(args), output_dir=args.output_dir, tag=args.tag)
    streams = Streams(engine, job)
    try:
        job = _follow(session, engine, job, streams)
    except KeyboardInterrupt:
        session.reattach([engine.get(job.jobid)], "fetch", "peek")
        return EXIT_INTERRUPTED
    if job.termination_reason == TerminationReason.SUBMISSION_FAILED and job.returncode is None:
        error(f"job {job.jobid}: submission failed: {job.status_message}")
        return EXIT_RESOURCE
    streams.copy(job)  # the rest; an error now is the command's error
    if app.outputs and (job.unfetched or args.overwrite):
        engine.fetch(job, overwrite=args.overwrite)
    for name in [] if args.overwrite else existing:
        note(f"kept existing {os.path.join(args.output_dir, name)} "
             "(use --overwrite to replace it)")
    if args.keep:
        note(f"sandbox of job {job.jobid} kept at {job.resource}:{job.sandbox}")
    else:
        engine.free(job)
    reason = job.termination_reason
    if reason is not None and reason != TerminationReason.EXITED:
        note(f"job {job.jobid} ended: {reason.value}"
             + (f" ({job.status_message})" if job.status_message else ""))
    return EXIT_FAILED if job.returncode is None else int(job.returncode)


class Streams:
    """A job's stdout and stderr, copied to ours as they grow.

    Each copy goes on from where the last one ended, through :meth:`Engine.peek`
    (which copies in bounded chunks), so nothing is shown twice or held in memory.
    """

    def __init__(self, engine: Engine, job: Job) -> None:
        self.engine = engine
        self.targets: list[tuple[str, TextIO]] = [(job.app.stdout, sys.stdout)]
        if not job.app.join and job.app.stderr != job.app.stdout:
            self.targets.append((job.app.stderr, sys.stderr))
        self.offsets = {name: 0 for name, _ in self.targets}

    def copy(self, job: Job) -> int:
        """Copy what the job's streams gained; return how many bytes that was."""
        copied = 0
        if job.native_id is None or job.sandbox is None:
            return copied
        for name, stream in self.targets:
            stream.flush()
            try:
                count = self.engine.peek(job, name, stream.buffer, self.offsets[name])
            except FileNotFoundError:  # not written yet
                count = 0
            stream.buffer.flush()
            self.offsets[name] += count
            copied += count
        return copied


POLL = (0.1, 1.0)  # pause between copies of the streams: first, longest (while quiet)
ROUNDS = (0.1, 5.0)  # pause between scheduler rounds, as Engine.wait


def _waiting(job: Job) -> str | None:
    """Why a job is still waiting to be submitted after a round (the engine's note, such
    as ``waiting for a free slot on NAME``); None once it has been submitted."""
    if job.state != State.NEW:
        return None
    return job.status_message or "waiting to be submitted (resource busy or unreachable)"


def _follow(session: Session, engine: Engine, job: Job, streams: Streams) -> Job:
    """Run rounds until the job has terminated, copying its streams meanwhile, and say
    once why it waits to be submitted, if it does; the job."""
    poll, pause, next_round = POLL[0], ROUNDS[0], 0.0
    said: set[str] = set()
    while True:
        if time.monotonic() >= next_round:
            done = engine.progress()
            session.report(done)
            job = engine.get(job.jobid)
            if job.state == State.TERMINATED:
                return job
            why = _waiting(job)
            if why is not None and why not in said:
                said.add(why)
                note(f"job {job.jobid}: {why}")
            changed = any(other.jobid == job.jobid for other in done.changed + done.submitted)
            pause = ROUNDS[0] if changed else min(pause * 1.5, ROUNDS[1])
            next_round = time.monotonic() + pause
        try:
            copied = streams.copy(job)
        except LRMSError as exc:  # e.g. a dropped connection: the next copy tries again
            session.warn(f"job {job.jobid}: cannot copy its output yet: {exc}")
            copied = 0
        poll = POLL[0] if copied else min(poll * 1.5, POLL[1])
        time.sleep(max(0.0, min(poll, next_round - time.monotonic())))


def resubmit(session: Session, args: argparse.Namespace) -> int:
    engine = session.engine(max_in_flight=args.max_in_flight)
    if args.jobids:
        jobs = session.pick(args.jobids, tag=args.tag)
    elif args.everything:
        jobs = [job for job in session.store.jobs(tag=args.tag) if job.failed]
    elif args.tag is not None:
        jobs = session.store.jobs(tag=args.tag, states=[State.TERMINATED])
    else:
        raise UsageError("resubmit: name the jobs: JOBID..., --failed, or --tag TAG")
    code = EXIT_OK
    pairs: list[tuple[Job, Job]] = []
    for job in jobs:
        try:
            pairs.append((job, engine.resubmit(job)))
        except InvalidJobState as exc:
            error(str(exc))
            code = EXIT_USAGE
    if pairs:
        done = engine.progress()
        session.report(done)
    news = [engine.get(new.jobid) for _, new in pairs]
    if args.json:
        print_json([job_dict(job) for job in news])
    else:
        for (old, _), new in zip(pairs, news, strict=True):
            print(f"{old.jobid} -> {new.jobid}  {new.state.value}", flush=True)
        if not pairs and code == EXIT_OK:
            note("nothing to resubmit")
    if code == EXIT_OK and news:
        code = _outcome(session, news, args.max_in_flight, background.ensure(session, engine))
    return code
