"""The :class:`Engine`: many jobs on several resources, kept in a job store.

Host applications add applications; each call of :meth:`Engine.progress` does
one round over the whole store:

1. *recover* jobs whose submitting process died before it recorded the
   native id (looked up on their resource by job id, ``find_jobs``);
2. *refresh* every active job with one batched query per resource;
3. *fetch* the outputs of jobs that just terminated into their own folder,
   and try again for every terminated job whose outputs were never fetched;
4. *resubmit* failed jobs, up to ``retries`` times;
5. *submit* new jobs, at most ``max_in_flight`` active jobs per resource; with
   ``arrays`` on, the new jobs of one resource whose backend submits arrays
   (``can("submit_jobs")``) are grouped by ``Application.requests_key()`` and
   submitted as arrays, ``max_in_flight`` then being each array's throttle
   (the running tasks of one array) instead of holding jobs back.

Dependencies (``Application.after``) and holds are the engine's unless the
backend maps them (``Backend.template_fields``): a job stays NEW while it is
held (until :meth:`Engine.release`) or while a job it waits for has not ended;
one waiting for a job on the same resource that the backend can name natively
is submitted with that job's native id.  A job whose dependency can never be
met ends TERMINATED with ``TerminationReason.DEPENDENCY_FAILED`` (cancelled on
its scheduler first if it was submitted natively).

Every state change goes through the :class:`~lrms.LRMS` facade, which fires
the event hooks.  Every change is saved in the store at once, so another
process (or a later one) sees it.  A job's sandbox is not freed while its
declared outputs were never fetched (unless forced).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import select
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from .application import Application
from .config import Config, load_config
from .dependency import Dependency
from .errors import (
    ConfigError,
    InvalidJobState,
    LimitExceeded,
    LRMSError,
    ResourceFull,
    TransportError,
    UnknownJob,
)
from .job import Job
from .resource import LRMS
from .state import State, TerminationReason
from .status import ResourceStatus
from .store import ACTIVE, JobStore

if TYPE_CHECKING:
    from . import agent as agent_module

__all__ = ["Engine", "Round", "Submission", "dependency_met"]

log = logging.getLogger(__name__)
#: Jobs named by dependencies, read once per round: job id -> latest attempt (None: forgotten).
Seen = dict[str, "Job | None"]


@dataclasses.dataclass
class Round:
    """What one :meth:`Engine.progress` round did."""

    submitted: list[Job] = dataclasses.field(default_factory=list)
    changed: list[Job] = dataclasses.field(default_factory=list)
    terminated: list[Job] = dataclasses.field(default_factory=list)
    fetched: list[Job] = dataclasses.field(default_factory=list)
    #: jobs whose outputs could not be fetched (why: ``job.fetch_error``)
    unfetched: list[Job] = dataclasses.field(default_factory=list)
    resubmitted: list[Job] = dataclasses.field(default_factory=list)
    recovered: list[Job] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)


class Submission(enum.Enum):
    """What became of a job the engine tried to submit."""

    SUBMITTED = "submitted"
    #: the resource is full or cannot be reached: the job stays NEW for a later round
    FULL = "full"
    #: refused: the job is TERMINATED with ``TerminationReason.SUBMISSION_FAILED``
    FAILED = "failed"


def dependency_met(dependency: Dependency, other: Job) -> bool:
    """True if ``other``, a terminated job, ended as ``dependency`` asks (``ok``: exit 0)."""
    return dependency.condition == "any" or (
        other.returncode == 0
        and other.termination_reason in (None, TerminationReason.EXITED))


def _engine_fields(resource: LRMS) -> tuple[str, ...]:
    """The template fields the engine handles on ``resource``: dependencies (resolved
    before submission), and holds unless the backend maps them."""
    return ("after",) if "hold" in resource.template_fields else ("after", "hold")


#: How the engine's notes on a waiting NEW job begin (cleared once it is submitted).
_WAITING_NOTES = ("waiting for ", "held: ", "released")


def _clear_note(job: Job) -> None:
    if job.status_message and job.status_message.startswith(_WAITING_NOTES):
        job.status_message = None


def _check_deadline(deadline: float | None, timeout: float | None,
                    watched: Sequence[Job] | None, left: int = 0) -> None:
    """Raise :class:`TimeoutError` once ``deadline`` (time.monotonic()) has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        if watched is not None:
            left = sum(job.state != State.TERMINATED for job in watched)
        raise TimeoutError(f"{left} job(s) still running after {timeout} s")


def _ending(job: Job) -> str:
    reason = job.termination_reason.value if job.termination_reason else "unknown"
    code = "" if job.returncode is None else f", return code {job.returncode}"
    return f"ended {reason}{code}"


class Engine:
    """Jobs across the configured resources, kept in a :class:`~lrms.store.JobStore`.

    ``config`` is a :class:`~lrms.Config`, a path, or None (the usual search
    order); ``store`` a :class:`JobStore`, a path, or None (``$LRMS_STORE`` or
    the user's data directory).  ``max_in_flight`` bounds the active jobs per
    resource (an int for all, or a mapping by resource name); ``retries`` is
    how often a failed job is resubmitted; ``output_root`` holds the per-job
    output folders (``<output_root>/<jobid>``) unless :meth:`add` names one;
    ``fetch`` turns the automatic fetch of terminated jobs' outputs on or off
    (a fetch that fails is tried again in every later round); ``arrays``
    submits jobs with the same requests as scheduler arrays where the backend can.
    """

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        store: JobStore | str | os.PathLike[str] | None = None,
        *,
        max_in_flight: int | Mapping[str, int] = 100,
        retries: int = 0,
        output_root: str | os.PathLike[str] = "lrms-output",
        fetch: bool = True,
        arrays: bool = True,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.store = store if isinstance(store, JobStore) else JobStore(store)
        self.max_in_flight = max_in_flight
        self.retries = retries
        self.output_root = os.path.abspath(os.fspath(output_root))
        self.fetch_outputs = fetch
        self.arrays = arrays
        self._owed: set[str] | None = None  # ids of jobs whose outputs are still to fetch

    # -- resources ----------------------------------------------------------------

    def resource(self, name: str) -> LRMS:
        """The configured resource ``name`` (built once; :class:`ConfigError` if unknown)."""
        resource: LRMS = self.config.resource(name)
        return resource

    def limit(self, name: str) -> int:
        if isinstance(self.max_in_flight, Mapping):
            return int(self.max_in_flight.get(name, 100))
        return int(self.max_in_flight)

    def candidates(self, app: Application, resource: str | None = None) -> list[str]:
        """The resources ``app`` fits, in configuration order.

        Raises :class:`LimitExceeded` naming each resource and the limit it
        broke when none fits (or when the named one does not).
        """
        names = [resource] if resource else self.config.resource_names
        fitting, problems = [], []
        for name in names:
            try:
                found = self.resource(name)
                found.check_request(app, handled=_engine_fields(found))
            except LimitExceeded as exc:
                problems.append(str(exc))
            else:
                fitting.append(name)
        if not fitting:
            raise LimitExceeded("no configured resource can run this job: " + "; ".join(problems))
        return fitting

    def resource_status(self) -> list[tuple[str, ResourceStatus | LRMSError]]:
        """Each configured resource's live status, or the error that prevented reading it."""
        answers: list[tuple[str, ResourceStatus | LRMSError]] = []
        for name in self.config.resource_names:
            try:
                answers.append((name, self.resource(name).get_resource_status()))
            except LRMSError as exc:
                answers.append((name, exc))
        return answers

    # -- adding --------------------------------------------------------------------

    def add(
        self,
        apps: Application | Sequence[Application],
        *,
        resource: str | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        tag: str | None = None,
    ) -> list[Job]:
        """Record applications as NEW jobs (all or none); :meth:`progress` submits them.

        Each job gets its own output folder: ``output_dir`` if given for a
        single application, else ``<output_root>/<jobid>``.  Requests that no
        resource (or not the named one) can satisfy are refused here, and so are
        dependencies on jobs not in the store (a unique ending of an id is enough).
        """
        apps = [apps] if isinstance(apps, Application) else list(apps)
        if output_dir is not None and len(apps) > 1:
            raise ValueError("output_dir names one job's folder; give it for a single application")
        jobs = []
        for app in apps:
            if app.after:
                app = dataclasses.replace(app, after=tuple(
                    Dependency(self.store.get(d.jobid).jobid, d.condition) for d in app.after))
            self.candidates(app, resource)
            for source in app.local_inputs():
                if not os.path.exists(source):
                    raise LRMSError(f"input file {source} of job {app.jobname!r} does not exist")
            job = Job(app)
            job.resource = resource
            job.tag, job.single = tag, not self.arrays
            job.output_dir = (os.path.abspath(os.fspath(output_dir)) if output_dir is not None
                              else os.path.join(self.output_root, job.jobid))
            jobs.append(job)
        self.store.add(jobs)
        return jobs

    # -- one round -------------------------------------------------------------------

    def progress(self, urgent: Collection[str] = ()) -> Round:
        """Do one round (see the module docstring) and return what it did.

        A resource is asked for its jobs' states only when its poll is due
        (:attr:`LRMS.poll_interval`, shared by every process using the store
        through :meth:`JobStore.claim_poll`, and never during a back-off after
        failed queries); the resources named in ``urgent`` (e.g. woken by a
        local job's end) are asked at once, back-off permitting.
        """
        done = Round()
        self._recover(done)
        active = self._refresh(done, frozenset(urgent))
        self._end_unmet([job for job in active if job.app.after
                         and job.state in (State.SUBMITTED, State.STOPPED)], done)
        if self.fetch_outputs:
            for job in done.terminated:
                self._auto_fetch(job, done)
            self._fetch_again(done)
        for job in done.terminated:
            if job.failed and job.attempt <= self.retries:
                done.resubmitted.append(self.resubmit(job))
        self._submit(done)
        done.counts = self.store.counts()
        return done

    def _by_resource(self, jobs: Iterable[Job], done: Round) -> dict[LRMS, list[Job]]:
        groups: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            groups[job.resource or ""].append(job)
        found: dict[LRMS, list[Job]] = {}
        for name, members in groups.items():
            try:
                found[self.resource(name)] = members
            except ConfigError:
                done.errors.append(
                    f"resource {name!r} of {len(members)} job(s) is no longer configured "
                    f"(configured: {', '.join(self.config.resource_names)}); their state "
                    "cannot be refreshed")
            except LRMSError as exc:
                done.errors.append(f"resource {name}: {exc}")
        return found

    def _recover(self, done: Round) -> None:
        for resource, jobs in self._by_resource(self.store.stale_claims(), done).items():
            if not resource.can("find_jobs"):
                for job in jobs:
                    job.status_message = (
                        f"submission to {resource.name} was interrupted and its backend cannot "
                        "look jobs up: check the resource by hand")
                    resource.move(job, State.UNKNOWN)
                self.store.save(jobs, release=True)
                done.errors.append(jobs[0].status_message or "")
                continue
            try:
                found = resource.find_jobs(jobs)
            except LRMSError as exc:
                done.errors.append(f"resource {resource.name}: cannot recover interrupted "
                                   f"submissions: {exc}")
                continue
            for job, hit in zip(jobs, found, strict=True):
                if hit:
                    resource.recovered(job)
                    done.recovered.append(job)
                    log.info("recovered job %s as %s on %s", job.jobid, job.native_id,
                             resource.name)
                else:
                    log.info("job %s was never accepted by %s; it will be submitted",
                             job.jobid, resource.name)
            self.store.save(jobs, release=True)

    def _refresh(self, done: Round, urgent: frozenset[str] = frozenset()) -> list[Job]:
        """Refresh the active jobs of each resource whose poll is due; return them."""
        active: list[Job] = []
        configured = set(self.config.resource_names)
        for name in sorted(self.store.active_by_resource()):
            if name in configured:
                try:
                    resource = self.resource(name)
                except LRMSError as exc:
                    done.errors.append(f"resource {name}: {exc}")
                    continue
                if not self.store.claim_poll(name, resource.poll_interval,
                                             force=name in urgent):
                    continue  # fresh enough, or backing off
            jobs = [job for job in self.store.jobs(states=ACTIVE, resource=name)
                    if job.native_id]
            for found, members in self._by_resource(jobs, done).items():
                active += members
                self._query(found, members, done)
        return active

    def _query(self, resource: LRMS, jobs: list[Job], done: Round) -> None:
        """Ask ``resource`` for the states of ``jobs`` (its poll claimed); save what changed.
        A failed query leaves the stored jobs as they were (the facade's UNKNOWN is not
        saved) and makes later queries back off (:meth:`JobStore.poll_done`)."""
        before = [job.state for job in jobs]
        try:
            resource.update_job_states(jobs)
        except LRMSError as exc:
            poll = self.store.poll_done(resource.name, str(exc),
                                        interval=resource.poll_interval)
            done.errors.append(f"resource {resource.name}: {exc} (asked again in "
                               f"{max(0.0, poll.retry_at - time.time()):.0f} s)")
            return
        self.store.poll_done(resource.name)
        changed = [job for job, old in zip(jobs, before, strict=True) if job.state != old]
        if changed:
            self.store.save(changed)
        done.changed += changed
        done.terminated += [job for job in changed if job.state == State.TERMINATED]

    def _end_unmet(self, queued: list[Job], done: Round) -> None:
        """Cancel queued jobs submitted with native dependencies that can no longer be met."""
        seen: Seen = {}
        for job in queued:
            unmet = self._unmet(job, seen, forgotten=False)
            if unmet is None:
                continue
            try:
                resource = self._submitted(job, "cancel")
                resource.cancel_job(job)
            except LRMSError as exc:
                done.errors.append(f"job {job.jobid}: its dependency can no longer be met, "
                                   f"but cancelling it failed: {exc}")
                continue
            self._dependency_failed(job, resource, *unmet)
            try:
                resource.free(job)  # it never ran: nothing to fetch
                job.sandbox = None
            except LRMSError as exc:
                done.errors.append(f"job {job.jobid}: {exc}")
            self.store.save([job])
            done.terminated.append(job)

    def _latest_of(self, dependency: Dependency, seen: Seen) -> Job | None:
        """The latest attempt of the job ``dependency`` names (None if forgotten), read
        once per ``seen`` (a copy may lag the store by a round: never past its end)."""
        if dependency.jobid not in seen:
            try:
                seen[dependency.jobid] = self._latest(dependency.jobid)
            except UnknownJob:
                seen[dependency.jobid] = None
        return seen[dependency.jobid]

    def _unmet(self, job: Job, seen: Seen, *,
               forgotten: bool = True) -> tuple[Dependency, Job | None] | None:
        """The first dependency of ``job`` that can never be met, with its job, or None.

        A job forgotten from the store meets an ``any`` dependency; with
        ``forgotten`` it fails an ``ok`` one (its outcome is unknown).
        """
        for dependency in job.app.after:
            other = self._latest_of(dependency, seen)
            if other is None:
                if forgotten and dependency.condition == "ok":
                    return dependency, None
            elif other.state == State.TERMINATED and not dependency_met(dependency, other):
                return dependency, other
        return None

    def _dependency_failed(self, job: Job, announcer: LRMS, dependency: Dependency,
                           other: Job | None) -> None:
        """End ``job`` (claimed or submitted) because ``dependency`` can never be met."""
        how = (f"job {other.jobid} ({other.app.jobname!r}) {_ending(other)}" if other
               else f"job {dependency.jobid} is no longer in the job store, so whether it "
               "succeeded is not known")
        job.record_outcome(reason=TerminationReason.DEPENDENCY_FAILED)
        job.status_message = f"dependency not met (after {dependency}): {how}; never run"
        announcer.move(job, State.TERMINATED)
        log.warning("job %s: %s", job.jobid, job.status_message)

    def _auto_fetch(self, job: Job, done: Round) -> None:
        if not job.app.outputs or not job.output_dir or job.sandbox is None:
            return
        try:
            self.fetch(job, overwrite=job.attempt > 1)
        except LRMSError:  # recorded in job.fetch_error; the caller reports it
            done.unfetched.append(job)
        else:
            done.fetched.append(job)

    def _fetch_again(self, done: Round) -> None:
        """Fetch the outputs of jobs that terminated earlier but were never fetched.

        The store is searched for such jobs in this engine's first round; later
        rounds try again those whose fetch has failed since.
        """
        if self._owed is None:
            self._owed = {job.jobid for job in self.store.unfetched() if job.unfetched}
        for jobid in sorted(self._owed - {job.jobid for job in done.terminated}):
            try:
                job = self.store.get(jobid)
            except UnknownJob:  # forgotten meanwhile
                continue
            if job.unfetched:
                self._auto_fetch(job, done)
        self._owed = {job.jobid for job in done.unfetched}

    def _submit(self, done: Round) -> None:
        in_flight: dict[str, int] = defaultdict(int, self.store.active_by_resource())
        blocked = self._backing_off()
        seen: Seen = {}
        batches: dict[tuple[str, Any], list[tuple[Job, Application, str | None]]] = {}
        unknown: set[str] = set()
        for job in self.store.iter_jobs(State.NEW):
            if self._all_full(blocked, in_flight):
                break  # no NEW job can be submitted this round: the rest is not read
            if job.resource and job.resource not in self.config.resource_names:
                unknown.add(job.resource)  # added with another configuration: left NEW
                continue
            if job.app.after and not self._dependencies_possible(job, done, seen):
                continue
            try:
                names = self.candidates(job.app, job.resource)
            except (LRMSError, ValueError) as exc:
                try:
                    self._fail(job, None, str(exc))
                except LRMSError as problem:
                    done.errors.append(str(problem))
                else:
                    done.terminated.append(job)
                continue
            name = next((n for n in names if n not in blocked and (
                self._in_arrays(n, job) or in_flight[n] < self.limit(n))), None)
            if name is None:
                continue
            app = self._to_submit(job, self.resource(name), seen)
            if app is None:
                continue
            pinned = job.resource
            if not self.store.claim(job, name):
                continue  # another process took it
            if self._in_arrays(name, job):
                batches.setdefault((name, app.requests_key()), []).append((job, app, pinned))
                continue
            outcome = self._submit_one(job, app, self.resource(name), pinned, done)
            if outcome == Submission.SUBMITTED:
                in_flight[name] += 1
                done.submitted.append(job)
            elif outcome == Submission.FULL:
                blocked.add(name)
        for name in sorted(unknown):
            done.errors.append(
                f"jobs for resource {name!r} wait to be submitted: it is not in this "
                f"configuration ({self.config.path or 'built-in default'}; configured: "
                f"{', '.join(self.config.resource_names)})")
        for (name, _), batch in batches.items():
            if len(batch) == 1:
                job, app, pinned = batch[0]
                if self._submit_one(job, app, self.resource(name), pinned,
                                    done) == Submission.SUBMITTED:
                    done.submitted.append(job)
            else:
                self._submit_array(batch, self.resource(name), done)
        for name in sorted({job.resource for job in done.submitted if job.resource}):
            # just submitted, their state is known: this counts as the resource's poll
            self.store.claim_poll(name, 0.0)

    def _backing_off(self) -> set[str]:
        """The resources not to submit to now: their queries back off after failures."""
        now = time.time()
        return {name for name, poll in self.store.polls().items() if poll.backing_off(now)}

    def _all_full(self, blocked: set[str], in_flight: Mapping[str, int]) -> bool:
        """True if no configured resource can take a job now (none takes arrays)."""
        for name in self.config.resource_names:
            if name in blocked:
                continue
            try:
                arrays = self.arrays and self.resource(name).can("submit_jobs")
            except LRMSError:
                continue
            if arrays or in_flight.get(name, 0) < self.limit(name):
                return False
        return True

    def _in_arrays(self, name: str, job: Job) -> bool:
        """True if ``job`` goes in an array on resource ``name`` (throttled, not held back):
        arrays are on, the job was not added as ``single`` and the backend has arrays."""
        return self.arrays and not job.single and self.resource(name).can("submit_jobs")

    def _submit_array(self, batch: list[tuple[Job, Application, str | None]], resource: LRMS,
                      done: Round) -> None:
        """Submit jobs with the same requests as arrays (throttle: ``max_in_flight``); on
        failure, the tasks already submitted are kept, the others stay NEW (full, or the
        resource unreachable) or are refused."""
        jobs = [job for job, _, _ in batch]
        error: LRMSError | None = None
        try:
            resource.submit_jobs([app for _, app, _ in batch], jobs,
                                 throttle=self.limit(resource.name))
        except LRMSError as exc:
            error = exc
        if isinstance(error, TransportError):
            self.store.poll_done(resource.name, str(error), interval=resource.poll_interval)
            done.errors.append(f"resource {resource.name}: cannot submit: {error}")
        kept = []
        for job, _, pinned in batch:
            if job.native_id is not None:
                _clear_note(job)
                resource.move(job, State.SUBMITTED)
                kept.append(job)
                done.submitted.append(job)
            elif isinstance(error, (ResourceFull, TransportError)):
                job.resource = pinned
                kept.append(job)
            else:
                job.resource = resource.name
                self._fail(job, resource, str(error))
                done.terminated.append(job)
        self.store.save(kept, release=True)

    def _dependencies_possible(self, job: Job, done: Round, seen: Seen) -> bool:
        """False (and the job ended DEPENDENCY_FAILED) if a dependency can never be met."""
        unmet = self._unmet(job, seen)
        if unmet is None:
            return True
        try:
            announcer = self._announcer(job)
        except LRMSError as exc:
            done.errors.append(f"job {job.jobid}: {exc}")
            return False
        if self.store.claim(job, job.resource or ""):
            self._dependency_failed(job, announcer, *unmet)
            self.store.save([job], release=True)
            done.terminated.append(job)
        return False

    def _to_submit(self, job: Job, resource: LRMS, seen: Seen) -> Application | None:
        """The application to submit to ``resource`` now, or None while the engine holds it.

        The engine holds a job marked ``hold`` the backend cannot hold, and one
        waiting for a job that has not ended unless the backend can wait for it
        natively (same resource, native id known); satisfied dependencies are left out.
        """
        app = job.app
        if app.hold and "hold" not in resource.template_fields:
            self._note(job, "held: release it with 'lrms release'")
            return None
        native = []
        for dependency in app.after:
            other = self._latest_of(dependency, seen)
            if other is None or other.state == State.TERMINATED:
                continue  # met: _unmet has ended the job otherwise
            if not (other.resource == resource.name and other.native_id
                    and "after" in resource.template_fields
                    and dependency.condition in resource.after_conditions):
                self._note(job, f"waiting for job {other.jobid} to end (after {dependency})")
                return None
            native.append(Dependency(other.jobid, dependency.condition, other.native_id))
        return dataclasses.replace(app, after=tuple(native)) if app.after else app

    def _note(self, job: Job, message: str) -> None:
        """Record why a NEW job waits (saved only when the reason changes)."""
        if job.status_message != message and self.store.claim(job, job.resource or ""):
            job.status_message = message
            self.store.save([job], release=True)

    def _submit_one(self, job: Job, app: Application, resource: LRMS, pinned: str | None,
                    done: Round) -> Submission:
        try:
            resource.submit_job(app, job)
        except ResourceFull:
            job.resource = pinned
            job.status_message = f"waiting for a free slot on {resource.name}"
            self.store.save([job], release=True)
            return Submission.FULL
        except TransportError as exc:
            job.resource = pinned
            self.store.save([job], release=True)
            self.store.poll_done(resource.name, str(exc), interval=resource.poll_interval)
            done.errors.append(f"resource {resource.name}: cannot submit: {exc}")
            return Submission.FULL
        except LRMSError as exc:
            job.resource = resource.name
            self._fail(job, resource, str(exc))
            done.terminated.append(job)
            return Submission.FAILED
        _clear_note(job)
        resource.move(job, State.SUBMITTED)
        self.store.save([job], release=True)
        return Submission.SUBMITTED

    def _fail(self, job: Job, resource: LRMS | None, message: str) -> None:
        """Record a refused submission (``resource`` None: no resource could take the job)."""
        try:
            announcer = resource or self._announcer(job)
        except LRMSError as exc:  # no resource can even be built: try again later
            self.store.save([job], release=True)
            raise LRMSError(f"job {job.jobid}: {message}; {exc}") from exc
        job.record_outcome(reason=TerminationReason.SUBMISSION_FAILED)
        job.status_message = message
        announcer.move(job, State.TERMINATED)
        self.store.save([job], release=True)
        log.warning("job %s: submission failed: %s", job.jobid, message)

    def _announcer(self, job: Job) -> LRMS:
        """The resource that announces state changes of a job never submitted anywhere.

        Event hooks always name a resource: the one the job was pinned to, else
        the first configured one that can be built.
        """
        names = self.config.resource_names
        if job.resource in names:
            names = [job.resource, *names]
        problem: LRMSError | None = None
        for name in names:
            try:
                return self.resource(name)
            except LRMSError as exc:
                problem = problem or exc
        raise problem or ConfigError("no resource is configured")

    # -- waiting -----------------------------------------------------------------------

    def wait(
        self,
        jobs: Sequence[Job] | None = None,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        on_round: Callable[[Round, list[Job]], None] | None = None,
        drive: bool = True,
    ) -> list[Job]:
        """Run rounds until ``jobs`` (default: every job not yet terminated) have terminated.

        Returns the jobs as stored at the end.  ``interval`` fixes the pause
        between rounds (default: from 0.1 s growing to 5 s; a local job that
        ends wakes the wait at once where its backend can watch jobs);
        ``timeout`` raises :class:`TimeoutError` when it passes; ``on_round``
        is called after each round with its :class:`Round` and the watched jobs.
        A resubmitted job is followed by its next attempt; failed jobs are
        resubmitted up to ``retries`` times.  With ``drive`` False no round is
        run: the store, which the store's agent (:meth:`start_agent`) keeps
        current, is watched instead (``on_round`` then gets an empty
        :class:`Round`, at most once a second); if the agent is gone, this
        process runs the rounds from then on.
        """
        ids = [job.jobid for job in jobs] if jobs is not None else [
            job.jobid for job in self.store.jobs()
            if job.state != State.TERMINATED]
        deadline = None if timeout is None else time.monotonic() + timeout
        if not drive:
            watched = self._watch_store(ids, deadline, timeout, on_round)
            if watched is not None:
                return watched
            log.warning("the agent of job store %s is gone: this process runs the rounds",
                        self.store.path)
            ids = [self._latest(jobid).jobid for jobid in ids]
        pause = 0.1 if interval is None else interval
        urgent: frozenset[str] = frozenset()
        while True:
            done = self.progress(urgent)
            watched = [self._latest(jobid) for jobid in ids]
            ids = [job.jobid for job in watched]
            if on_round is not None:
                on_round(done, watched)
            if all(job.state == State.TERMINATED for job in watched):
                return watched
            _check_deadline(deadline, timeout, watched)
            urgent = self.pause(pause)
            if interval is None and not done.changed and not done.submitted:
                pause = min(pause * 1.5, 5.0)

    def _watch_store(self, ids: list[str], deadline: float | None, timeout: float | None,
                     on_round: Callable[[Round, list[Job]], None] | None) -> list[Job] | None:
        """:meth:`wait` without rounds: read the states in the store (no record decoded
        until a job ends), resubmit failed jobs up to ``retries`` times, and report
        to ``on_round`` at most once a second.  None if the store's agent is gone."""
        from . import agent

        known: dict[str, State] = {}
        reported = checked = 0.0
        while True:
            if time.monotonic() - checked >= 2.0:
                if agent.running(self.store.path) is None:
                    return None
                checked = time.monotonic()
            states = self.store.states_of(ids)
            while any(states.get(jobid, (None, None))[1] for jobid in ids):
                ids = [states[j][1] or j if j in states else j for j in ids]
                states = self.store.states_of(ids)
            ended = [j for j in ids if j in states and states[j][0] == State.TERMINATED
                     and known.get(j) != State.TERMINATED]
            if ended and self.retries:
                for job in (self.store.get(jobid) for jobid in ended):
                    if job.failed and job.attempt <= self.retries:
                        ids[ids.index(job.jobid)] = self.resubmit(job).jobid
                continue
            changed = {j: states[j][0] for j in ids if j in states} != known
            known = {j: states[j][0] for j in ids if j in states}
            finished = all(known.get(j) == State.TERMINATED for j in ids)
            if finished or (on_round is not None and changed
                            and time.monotonic() - reported >= 1.0):
                watched = [self.store.get(jobid) for jobid in ids]
                reported = time.monotonic()
                if on_round is not None:
                    on_round(Round(), watched)
                if finished:
                    return watched
            _check_deadline(deadline, timeout, None, sum(
                state != State.TERMINATED for state in known.values()))
            time.sleep(0.05 if changed else 0.2)

    def pause(self, seconds: float) -> frozenset[str]:
        """Sleep up to ``seconds``; return the resources one of whose active jobs may
        have ended meanwhile (woken at once through :meth:`LRMS.watch_jobs`)."""
        watched: dict[int, str] = {}
        try:
            for name in self.store.active_by_resource():
                if name not in self.config.resource_names:
                    continue
                resource = self.resource(name)
                if resource.can("watch_jobs"):
                    jobs = [job for job in self.store.jobs(states=ACTIVE, resource=name)
                            if job.native_id]
                    watched.update(dict.fromkeys(resource.watch_jobs(jobs), name))
            if not watched:
                time.sleep(seconds)
                return frozenset()
            ready, _, _ = select.select(list(watched), [], [], seconds)
            return frozenset(watched[fd] for fd in ready)
        except LRMSError as exc:
            log.debug("cannot watch jobs: %s", exc)
            time.sleep(seconds)
            return frozenset()
        finally:
            for fd in watched:
                os.close(fd)

    def start_agent(self) -> agent_module.AgentInfo:
        """Start the store's agent (``lrms.agent``) unless one runs; return it.  It
        runs rounds with this engine's configuration, ``max_in_flight`` (one value for
        every resource) and ``retries`` until no job is active, then exits."""
        from . import agent

        limit = self.max_in_flight if isinstance(self.max_in_flight, int) else None
        return agent.start(self.store.path, self.config.path, max_in_flight=limit,
                           retries=self.retries)

    def _latest(self, jobid: str) -> Job:
        job = self.store.get(jobid)
        while job.replaced_by:
            job = self.store.get(job.replaced_by)
        return job

    # -- one job ----------------------------------------------------------------------

    def get(self, ident: str) -> Job:
        """A stored job by id (or a unique ending of it); :class:`UnknownJob` if none."""
        return self.store.get(ident)

    def jobs(self, **filters: Any) -> list[Job]:
        """Stored jobs (see :meth:`JobStore.jobs` for the filters)."""
        return self.store.jobs(**filters)

    def _submitted(self, job: Job, action: str) -> LRMS:
        if job.native_id is None or job.resource is None:
            raise InvalidJobState(f"job {job.jobid} was never submitted: nothing to {action}")
        return self.resource(job.resource)

    def cancel(self, job: Job) -> None:
        """Cancel a job; a NEW one is just marked cancelled (it was never submitted)."""
        if job.state == State.NEW:
            announcer = self._announcer(job)
            if not self.store.claim(job, job.resource or ""):
                raise InvalidJobState(f"job {job.jobid} is being submitted right now; "
                                      "cancel it again in a moment")
            job.record_outcome(reason=TerminationReason.CANCELLED)
            job.status_message = "cancelled before submission"
            announcer.move(job, State.TERMINATED)
            self.store.save([job], release=True)
            return
        resource = self._submitted(job, "cancel")
        resource.cancel_job(job)
        self.store.save([job])

    def cancel_arrays(self, jobs: Sequence[Job]) -> list[Job]:
        """Cancel, with one request per array (:meth:`LRMS.cancel_array`), the tasks of
        each array whose unfinished tasks in the store are all among ``jobs``; return
        the jobs cancelled so (the caller cancels the rest one by one).  An array whose
        cancel fails is left to the caller."""
        groups: dict[tuple[str, str], list[Job]] = defaultdict(list)
        for job in jobs:
            array = job.backend_data.get("array")
            if array and job.resource and job.native_id and job.state in ACTIVE:
                groups[(job.resource, str(array))].append(job)
        if not any(len(tasks) > 1 for tasks in groups.values()):
            return []
        unfinished: dict[tuple[str, str], set[str]] = defaultdict(set)
        for job in self.store.jobs(states=ACTIVE):
            if job.resource and job.backend_data.get("array"):
                unfinished[(job.resource, str(job.backend_data["array"]))].add(job.jobid)
        cancelled = []
        for (name, array), tasks in groups.items():
            if len(tasks) < 2 or not unfinished[(name, array)] <= {t.jobid for t in tasks}:
                continue
            try:
                self.resource(name).cancel_array(array, tasks)
            except LRMSError as exc:
                log.warning("resource %s: cancelling array %s at once failed (%s); its tasks "
                            "are cancelled one by one", name, array, exc)
                continue
            self.store.save(tasks)
            cancelled += tasks
        return cancelled

    def release(self, job: Job) -> None:
        """Release a job submitted with ``hold``: the engine's hold (a NEW job) is
        dropped so a later round submits it; a held queued job is released on its
        resource (:meth:`LRMS.release_job`)."""
        if not job.app.hold:
            raise InvalidJobState(f"job {job.jobid} was not submitted held: nothing to release")
        if job.state == State.NEW:
            if not self.store.claim(job, job.resource or ""):
                raise InvalidJobState(f"job {job.jobid} is being submitted right now; "
                                      "release it again in a moment")
            job.app = dataclasses.replace(job.app, hold=False)
            job.status_message = "released"
            self.store.save([job], release=True)
            return
        self._submitted(job, "release").release_job(job)
        job.status_message = "released"
        self.store.save([job])

    def fetch(
        self,
        job: Job,
        *,
        overwrite: bool = False,
        changed_only: bool = True,
        download_dir: str | os.PathLike[str] | None = None,
    ) -> list[str]:
        """Copy the job's outputs into its folder (or ``download_dir``); return the paths.

        Once the outputs of a terminated job are fetched, ``job.fetched`` is set
        and its sandbox may be freed.  A failure is recorded in ``job.fetch_error``
        and raised as :class:`LRMSError` naming the job, the folder and the files.
        """
        resource = self._check_sandbox(job, "fetch outputs of")
        target = os.fspath(download_dir) if download_dir is not None else job.output_dir
        if target is None:
            raise LRMSError(f"job {job.jobid} has no output folder: give a download directory")
        try:
            os.makedirs(target, exist_ok=True)
            written = resource.get_results(job, target, overwrite=overwrite,
                                           changed_only=changed_only)
        except (LRMSError, OSError) as exc:
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            job.fetch_error = f"fetching outputs into {target} failed: {cause}"
            self.store.save([job])
            raise LRMSError(f"job {job.jobid}: {job.fetch_error}") from exc
        if job.state == State.TERMINATED:
            job.fetched = time.time()
        job.fetch_error = None
        self.store.save([job])
        return written

    def _check_sandbox(self, job: Job, action: str) -> LRMS:
        resource = self._submitted(job, action)
        if job.sandbox is None:
            raise InvalidJobState(f"job {job.jobid}'s sandbox was freed: cannot {action} it")
        return resource

    def peek(
        self,
        job: Job,
        filename: str,
        local_file: str | os.PathLike[str] | IO[bytes],
        offset: int = 0,
        size: int | None = None,
    ) -> int:
        """Copy part of a file in the job's sandbox (see :meth:`LRMS.peek`)."""
        resource = self._check_sandbox(job, "peek at")
        return resource.peek(job, filename, local_file, offset, size)

    def free(self, job: Job, *, force: bool = False) -> None:
        """Delete a TERMINATED job's sandbox on its resource (the job stays in the store).

        Refused (:class:`InvalidJobState`) while the job's declared outputs were
        never fetched (:attr:`Job.unfetched`), unless ``force``.
        """
        if job.native_id is None:
            if job.state != State.TERMINATED:
                raise InvalidJobState(f"job {job.jobid} is {job.state.value}: only a "
                                      "TERMINATED job can be freed")
            return  # never submitted: nothing on any resource
        if job.sandbox is not None:
            if job.unfetched and not force:
                why = f" ({job.fetch_error})" if job.fetch_error else ""
                raise InvalidJobState(
                    f"job {job.jobid}: its outputs {', '.join(job.app.outputs)} were never "
                    f"fetched{why}; its sandbox holds the only copy: fetch them first, or "
                    "force the deletion")
            self.resource(job.resource or "").free(job)
            job.sandbox = None
            self.store.save([job])

    def forget(self, jobs: Iterable[Job]) -> int:
        """Remove jobs from the store (nothing on the resources is touched)."""
        return self.store.remove(jobs)

    def resubmit(self, job: Job) -> Job:
        """Record a new attempt of a terminated job (same application, resource, tag, folder)."""
        if job.state != State.TERMINATED:
            raise InvalidJobState(f"job {job.jobid} is {job.state.value}: only a TERMINATED "
                                  "job can be resubmitted (cancel it first)")
        if job.replaced_by:
            raise InvalidJobState(f"job {job.jobid} was already resubmitted as {job.replaced_by}")
        new = Job(job.app)
        new.resource = job.resource
        new.tag, new.output_dir, new.single = job.tag, job.output_dir, job.single
        self.store.replace(job, new)
        log.info("job %s resubmitted as %s (attempt %d)", job.jobid, new.jobid, new.attempt)
        return new

    def close(self) -> None:
        """Close every resource and the store."""
        try:
            self.config.close()
        finally:
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
