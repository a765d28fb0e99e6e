"""The :class:`LRMS` facade: one configured resource and its backend.

Host applications call these methods; the facade checks requests against the
resource's limits, calls the backend's hooks through pluggy, moves job states
and fires the event hooks.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import IO, Any, cast

import pluggy

from . import hookspecs
from .application import CORE_FIELDS, REQUEST_FIELDS, Application, sandbox_name
from .arch import Arch
from .auth import Auth, SshAuth
from .backends import load_backend_class, missing_methods
from .errors import (
    BackendError,
    InvalidJobState,
    LimitExceeded,
    LRMSError,
    TransportError,
    cannot_honour,
)
from .job import Job
from .options import check_options
from .plugins import extension_plugins
from .quantity import Duration, Memory
from .state import State
from .status import ResourceStatus
from .transport import LocalTransport, Transport

__all__ = ["LRMS", "check_backend"]

log = logging.getLogger(__name__)


class _PluginManager(pluggy.PluginManager):
    """A plugin manager that never evaluates properties while looking for hooks.

    pluggy reads every attribute of a plugin; a backend's lazy properties
    (its transport, its spool) must not connect to the resource at load time.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        if isinstance(inspect.getattr_static(plugin, name, None), property):
            return None
        return super().parse_hookimpl_opts(plugin, name)


def _api_major(version: str) -> int:
    return int(str(version).split(".")[0])


class LRMS:
    """A resource: its immutable limits, its transport and its loaded backend.

    ``backend`` is an entry-point name (``"shellcmd"``) or a backend class;
    ``transport`` is ``"local"``, ``"ssh"`` (with ``frontend``, optional
    ``port`` and an :class:`~lrms.auth.SshAuth`) or a :class:`Transport`.
    ``max_gpus_per_job`` is the GPUs one job may request in all (0: none).
    The remaining keyword arguments are the backend's options, checked
    against its declared ``options``.
    """

    def __init__(
        self,
        name: str,
        architecture: Iterable[Arch | str] | Arch | str,
        max_cores: int,
        max_cores_per_job: int,
        max_memory_per_core: Memory | str,
        max_walltime: Duration | str | int,
        auth: Auth | None = None,
        *,
        backend: Any,
        transport: str | Transport = "local",
        frontend: str | None = None,
        port: int | None = None,
        max_gpus_per_job: int = 0,
        poll_interval: Duration | str | float | None = None,
        python: str | None = None,
        **extra_args: Any,
    ) -> None:
        if isinstance(architecture, (str, Arch)):
            architecture = [architecture]
        self._name = name
        self._architecture = frozenset(Arch(a) for a in architecture)
        if not self._architecture:
            raise ValueError(f"resource {name}: architecture must name at least one Arch")
        for label, value in (("max_cores", max_cores), ("max_cores_per_job", max_cores_per_job)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"resource {name}: {label} must be a positive int, got {value!r}")
        if isinstance(max_gpus_per_job, bool) or not isinstance(max_gpus_per_job, int) or (
                max_gpus_per_job < 0):
            raise ValueError(
                f"resource {name}: max_gpus_per_job must be an int of at least 0, got "
                f"{max_gpus_per_job!r}")
        self._max_gpus_per_job = max_gpus_per_job
        if max_cores_per_job > max_cores:
            raise ValueError(
                f"resource {name}: max_cores_per_job ({max_cores_per_job}) exceeds "
                f"max_cores ({max_cores})"
            )
        self._max_cores = max_cores
        self._max_cores_per_job = max_cores_per_job
        self._max_memory_per_core = Memory.positive(max_memory_per_core)
        self._max_walltime = Duration.positive(max_walltime)
        self._poll_interval = None if poll_interval is None else Duration(poll_interval)
        if self._poll_interval is not None and self._poll_interval.seconds < 0:
            raise ValueError(f"resource {name}: poll_interval must not be negative")
        self._python = python
        self._auth = auth
        self._frontend = frontend
        self._port = port
        self._transport_spec = transport
        self._transport: Transport | None = transport if isinstance(transport, Transport) else None
        if transport not in ("local", "ssh") and self._transport is None:
            raise ValueError(f"resource {name}: transport must be 'local', 'ssh' or a Transport")
        if transport == "ssh" and not frontend:
            raise ValueError(f"resource {name}: transport 'ssh' needs a frontend host")
        self._closed = False
        self.status: ResourceStatus | None = None

        backend_class = load_backend_class(backend) if isinstance(backend, str) else backend
        self.backend_name: str = backend if isinstance(backend, str) else getattr(
            backend_class, "name", backend_class.__name__)
        self._check_api(backend_class)

        def option_error(key: str, problem: str) -> Exception:
            return ValueError(f"resource {name}: option {key}: {problem}")

        self.options: dict[str, Any] = check_options(
            getattr(backend_class, "options", ()), extra_args, option_error)
        abstract = missing_methods(backend_class)
        if abstract:
            raise BackendError(
                f"backend {self.backend_name!r} ({backend_class.__module__}."
                f"{backend_class.__qualname__}) does not implement the required method(s) "
                f"{', '.join(abstract)} of its base class")
        self._hooks = _PluginManager(hookspecs.PROJECT)
        self._hooks.add_hookspecs(hookspecs)
        try:
            self.backend = backend_class(self)
            self._hooks.register(self.backend, name=f"backend:{self.backend_name}")
            self._hooks.check_pending()
        except pluggy.PluginValidationError as exc:
            raise BackendError(f"backend {self.backend_name!r} has an invalid hook: {exc}") from exc
        missing = [op for op in hookspecs.OPERATIONS
                   if not getattr(self._hooks.hook, op).get_hookimpls()]
        if missing:
            raise BackendError(
                f"backend {self.backend_name!r} does not implement the hook(s) "
                f"{', '.join(missing)}")
        for plugin in extension_plugins():
            self._hooks.register(plugin)

    def _check_api(self, backend_class: Any) -> None:
        supported = str(getattr(backend_class, "lrms_api", hookspecs.API_VERSION))
        majors = {int(part) for part in supported.replace(" ", "").split(",") if part}
        if _api_major(hookspecs.API_VERSION) not in majors:
            raise BackendError(
                f"backend {self.backend_name!r} supports lrms plugin API {supported}, "
                f"but this lrms provides API {hookspecs.API_VERSION}; install a matching "
                f"version of the backend or of lrms"
            )

    # -- the immutable description ------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def architecture(self) -> frozenset[Arch]:
        return self._architecture

    @property
    def max_cores(self) -> int:
        return self._max_cores

    @property
    def max_cores_per_job(self) -> int:
        return self._max_cores_per_job

    @property
    def max_memory_per_core(self) -> Memory:
        return self._max_memory_per_core

    @property
    def max_walltime(self) -> Duration:
        return self._max_walltime

    @property
    def max_gpus_per_job(self) -> int:
        return self._max_gpus_per_job

    @property
    def poll_interval(self) -> float:
        """Seconds between status queries of this resource, shared by every process
        using a job store: the ``poll_interval`` setting, else the backend's default."""
        if self._poll_interval is not None:
            return self._poll_interval.seconds
        default = getattr(self.backend, "default_poll_interval", None)
        return float(default() if default else getattr(self.backend, "poll_interval", 10.0))

    @property
    def python(self) -> str | None:
        """The ``python`` setting: Python 3 on the resource (None: not set, the user of
        it chooses a default)."""
        return self._python

    @property
    def template_fields(self) -> frozenset[str]:
        """The job-template fields this resource's backend maps (see :meth:`check_request`)."""
        fields: frozenset[str] = getattr(self.backend, "template_fields", frozenset())
        return fields

    @property
    def after_conditions(self) -> frozenset[str]:
        """The dependency conditions (``ok``, ``any``) the backend can wait for natively."""
        conditions: frozenset[str] = getattr(self.backend, "after_conditions", frozenset())
        return conditions

    @property
    def auth(self) -> Auth | None:
        return self._auth

    @property
    def frontend(self) -> str:
        return self._frontend or "localhost"

    @property
    def transport(self) -> Transport:
        """The transport, connected on first use."""
        if self._transport is None:
            if self._transport_spec == "ssh":
                try:
                    from .transport.ssh import open_transport
                except ImportError as exc:
                    raise TransportError(
                        f"resource {self.name}: the ssh transport needs paramiko: "
                        "pip install 'lrms[ssh]'") from exc
                auth = self._auth if isinstance(self._auth, SshAuth) else None
                self._transport = open_transport(self.frontend, self._port, auth)
            else:
                self._transport = LocalTransport()
        return self._transport

    @property
    def hook(self) -> hookspecs.HookCalls:
        """The resource's pluggy hook relay (for the facade and extension authors)."""
        return cast(hookspecs.HookCalls, self._hooks.hook)

    def __repr__(self) -> str:
        return f"<LRMS {self.name} backend={self.backend_name} host={self.frontend}>"

    # -- checks --------------------------------------------------------------

    def check_request(self, app: Application, *, handled: Collection[str] = ()) -> None:
        """Raise :class:`LimitExceeded` if ``app`` asks for more than this resource allows.

        Totals are compared with the limits (cores of all tasks on all nodes,
        GPUs of all nodes).  A job-template field set to other than its default
        that the backend does not map (``Backend.template_fields``; the core
        handles ``CORE_FIELDS``, the caller those in ``handled``) is refused, as
        is an ``after`` entry without a native id for a backend that maps ``after``.
        """
        self._check_template(app, handled)
        problems = []
        cores = app.total_cores
        if cores > self.max_cores_per_job:
            problems.append(
                f"{cores} cores requested{_per_task(app)}, max_cores_per_job is "
                f"{self.max_cores_per_job}")
        limit = self.max_memory_per_core * cores
        if app.requested_memory is not None and app.requested_memory > limit:
            problems.append(
                f"{app.requested_memory} memory requested, the limit for "
                f"{cores} core(s) is {limit} "
                f"(max_memory_per_core {self.max_memory_per_core})")
        if app.total_gpus > self.max_gpus_per_job:
            problems.append(
                f"{app.total_gpus} GPUs requested, max_gpus_per_job is {self.max_gpus_per_job}")
        if app.requested_walltime is not None and app.requested_walltime > self.max_walltime:
            problems.append(
                f"walltime {app.requested_walltime} requested, max_walltime is "
                f"{self.max_walltime}")
        arch = app.requested_architecture
        if arch is not None and arch not in self.architecture:
            problems.append(
                f"architecture {arch} requested, resource offers "
                f"{', '.join(sorted(a.value for a in self.architecture))}")
        if problems:
            raise LimitExceeded(
                f"resource {self.name} refuses job {app.jobname!r}: " + "; ".join(problems))

    def _check_template(self, app: Application, handled: Collection[str]) -> None:
        mapped = self.template_fields | CORE_FIELDS | frozenset(handled)
        for field, value in app.template_requests().items():
            if field not in mapped:
                raise LimitExceeded(cannot_honour(
                    self.name, self.backend_name, f"{field}={_shown(field, value)}", app.jobname,
                    f"{self.backend_name} has no such request; remove it or choose another "
                    "resource"))
        for dependency in () if "after" in handled else app.after:
            if dependency.condition not in self.after_conditions:
                why = f"cannot wait for a job to end {dependency.condition}"
            elif dependency.native_id is None:
                why = "needs the native id of the job waited for (Dependency native_id)"
            else:
                continue
            raise LimitExceeded(cannot_honour(
                self.name, self.backend_name, f"after={dependency}", app.jobname,
                f"{self.backend_name} {why}; submit it through the engine (lrms submit), which "
                "waits for the job itself"))

    def _check_inputs(self, app: Application) -> None:
        for source in app.local_inputs():
            if not os.path.exists(source):
                raise LRMSError(
                    f"resource {self.name}: input file {source} of job {app.jobname!r} "
                    "does not exist")
        urls = app.input_urls()
        if urls and not self.validate_data(urls):
            raise LRMSError(
                f"resource {self.name} ({self.backend_name}) cannot fetch {', '.join(urls)}: "
                "unsupported transfer protocol")

    def _check_open(self) -> None:
        if self._closed:
            raise LRMSError(f"resource {self.name} is closed")

    # -- operations ------------------------------------------------------------

    def submit_job(self, app: Application, job: Job) -> Job:
        """Submit ``job`` (running ``app``); the caller then sets ``job.state``."""
        self._check_open()
        if job.state not in (State.NEW,):
            raise InvalidJobState(
                f"job {job.jobid} is {job.state.value}; only a NEW job can be submitted")
        self.check_request(app)
        self._check_inputs(app)
        job.resource = self.name
        try:
            self.hook.submit_job(resource=self, app=app, job=job)
        except BaseException:
            job.resource = None
            raise
        log.info("%s: submitted job %s as %s", self.name, job.jobid, job.native_id)
        self.hook.job_submitted(resource=self, job=job)
        return job

    def submit_jobs(self, apps: Sequence[Application], jobs: Sequence[Job],
                    throttle: int | None = None) -> list[Job]:
        """Submit each ``apps[i]`` as ``jobs[i]``: as scheduler arrays where the backend
        can (``can("submit_jobs")``), else one by one; the caller then sets the states.

        Every application is checked as :meth:`submit_job` checks it before anything is
        sent, and all must have the same requests (``Application.requests_key``).
        ``throttle`` bounds the running tasks of one array (None: no bound).  On failure
        the error propagates; the jobs already submitted keep their native ids.
        """
        self._check_open()
        if len(apps) != len(jobs):
            raise ValueError(f"submit_jobs needs one job per application, got {len(apps)} "
                             f"applications and {len(jobs)} jobs")
        if throttle is not None and (isinstance(throttle, bool) or not isinstance(throttle, int)
                                     or throttle < 1):
            raise ValueError(f"throttle must be None or a positive int, got {throttle!r}")
        for job in jobs:
            if job.state != State.NEW:
                raise InvalidJobState(
                    f"job {job.jobid} is {job.state.value}; only a NEW job can be submitted")
        for app in apps:
            _check_same_requests(apps[0], app)
            self.check_request(app)
            self._check_inputs(app)
        if len(apps) < 2 or not self.can("submit_jobs"):
            for app, job in zip(apps, jobs, strict=True):
                self.submit_job(app, job)
            return list(jobs)
        for job in jobs:
            job.resource = self.name
        try:
            self.hook.submit_jobs(resource=self, apps=apps, jobs=jobs, throttle=throttle)
        finally:
            for job in jobs:
                if job.native_id is None:
                    job.resource = None
                else:
                    self.hook.job_submitted(resource=self, job=job)
        log.info("%s: submitted %d jobs as arrays (%s ... %s)", self.name, len(jobs),
                 jobs[0].native_id, jobs[-1].native_id)
        return list(jobs)

    def update_job_state(self, job: Job) -> State:
        """Ask the resource about one job; return its new state."""
        return self.update_job_states([job])[0]

    def update_job_states(self, jobs: Sequence[Job]) -> list[State]:
        """Ask the resource about many jobs at once; return their states in order.

        NEW and TERMINATED jobs are not asked about.  If the resource cannot be
        reached, the asked jobs become UNKNOWN (never TERMINATED) and the
        :class:`TransportError` propagates.
        """
        self._check_open()
        asked = [job for job in jobs if job.state not in (State.NEW, State.TERMINATED)]
        for job in asked:
            self._check_own(job)
        if asked:
            try:
                states = self.hook.update_job_states(resource=self, jobs=asked)
            except TransportError:
                for job in asked:
                    self.move(job, State.UNKNOWN)
                raise
            if states is None or len(states) != len(asked):
                raise BackendError(
                    f"backend {self.backend_name!r} answered update_job_states for "
                    f"{len(asked)} jobs with {states!r}")
            for job, state in zip(asked, states, strict=True):
                new = State(state)
                if job.state == State.TERMINATING and new in (State.SUBMITTED, State.RUNNING):
                    continue  # cancel requested: it stays TERMINATING until it has ended
                self.move(job, new)
        return [job.state for job in jobs]

    def move(self, job: Job, new: State) -> None:
        """Set ``job.state`` to ``new`` and fire the event hooks if it changed."""
        old = job.state
        if new == old:
            return
        job.state = new
        self.hook.job_state_changed(resource=self, job=job, old=old, new=new)
        if new == State.TERMINATED:
            self.hook.job_terminated(resource=self, job=job)

    def recovered(self, job: Job) -> None:
        """Announce a job :meth:`find_jobs` found: fire ``job_submitted``, move it to SUBMITTED."""
        self._check_own(job)
        self.hook.job_submitted(resource=self, job=job)
        self.move(job, State.SUBMITTED)

    def _check_own(self, job: Job) -> None:
        if job.resource != self.name or job.native_id is None:
            raise InvalidJobState(
                f"job {job.jobid} was not submitted to resource {self.name} "
                f"(its resource is {job.resource or 'none'})")

    def can(self, operation: str) -> bool:
        """True if the backend implements ``operation`` (see ``OPTIONAL_OPERATIONS``)."""
        return bool(getattr(self.hook, operation).get_hookimpls())

    def find_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """Look up jobs whose submission was interrupted by their tag (``job.jobid``).

        Return, in order, True for each job the scheduler accepted; those jobs
        get their native id and sandbox back (their state is left to the caller).
        Raises :class:`BackendError` if the backend cannot look jobs up.
        """
        self._check_open()
        if not self.can("find_jobs"):
            raise BackendError(
                f"backend {self.backend_name!r} of resource {self.name} cannot look jobs up by "
                "tag (it does not implement find_jobs, plugin API 1.1)")
        asked = [job for job in jobs if job.native_id is None]
        found = self.hook.find_jobs(resource=self, jobs=asked) if asked else []
        if found is None or len(found) != len(asked):
            raise BackendError(
                f"backend {self.backend_name!r} answered find_jobs for {len(asked)} jobs "
                f"with {found!r}")
        for job, hit in zip(asked, found, strict=True):
            if hit:
                if job.native_id is None:
                    raise BackendError(
                        f"backend {self.backend_name!r} found job {job.jobid} but set no "
                        "native id")
                job.resource = self.name
        answers = dict(zip((id(job) for job in asked), found, strict=True))
        return [bool(answers.get(id(job), True)) for job in jobs]

    def release_job(self, job: Job) -> None:
        """Release a job submitted held (``app.hold``) so the scheduler may start it."""
        self._check_open()
        if not self.can("release_job"):
            raise BackendError(
                f"backend {self.backend_name!r} of resource {self.name} cannot release held jobs "
                "(it does not implement release_job, plugin API 1.2)")
        if job.state not in (State.SUBMITTED, State.STOPPED):
            raise InvalidJobState(
                f"job {job.jobid} is {job.state.value}: only a queued held job can be released")
        self._check_own(job)
        self.hook.release_job(resource=self, job=job)

    def watch_jobs(self, jobs: Sequence[Job]) -> list[int]:
        """File descriptors that become readable when one of ``jobs`` may have ended
        (the caller closes them); empty if the backend cannot watch (see the hook)."""
        self._check_open()
        if not jobs or not self.can("watch_jobs"):
            return []
        return list(self.hook.watch_jobs(resource=self, jobs=jobs) or [])

    def cancel_job(self, job: Job) -> None:
        """Cancel a queued or running job (a terminated one is left as it is)."""
        self._check_open()
        if job.state == State.TERMINATED:
            return
        if job.state == State.NEW:
            raise InvalidJobState(f"job {job.jobid} was never submitted: nothing to cancel")
        self._check_own(job)
        self.hook.cancel_job(resource=self, job=job)
        self.move(job, State.TERMINATING)

    def cancel_array(self, array_id: str, jobs: Sequence[Job]) -> None:
        """Cancel array ``array_id`` with one request; ``jobs`` are its unfinished tasks
        (``backend_data["array"]``), all of them: the scheduler cancels the whole array.

        The backend's ``cancel_job`` is asked once, for a job whose native id is the
        array's (``scancel 123``, ``qdel 123``, ``qdel 123[].server``).
        """
        self._check_open()
        asked = [job for job in jobs if job.state != State.TERMINATED]
        for job in asked:
            self._check_own(job)
            if job.backend_data.get("array") != array_id:
                raise InvalidJobState(f"job {job.jobid} is not a task of array {array_id}")
        if not asked:
            return
        whole = Job(asked[0].app, jobid=f"array-{array_id}")
        whole.resource, whole.native_id = self.name, array_id
        self.hook.cancel_job(resource=self, job=whole)
        for job in asked:
            if "cancelled" in whole.backend_data:
                job.backend_data["cancelled"] = whole.backend_data["cancelled"]
            self.move(job, State.TERMINATING)

    def get_results(
        self,
        job: Job,
        download_dir: str | os.PathLike[str],
        overwrite: bool = False,
        changed_only: bool = True,
    ) -> list[str]:
        """Copy the job's outputs (``app.outputs``) into the existing ``download_dir``."""
        self._check_open()
        self._check_own(job)
        target = os.fspath(download_dir)
        if not os.path.isdir(target):
            raise LRMSError(f"download directory {target} does not exist (create it first)")
        written: list[str] = self.hook.get_results(
            resource=self, job=job, download_dir=target, overwrite=overwrite,
            changed_only=changed_only)
        return written

    def peek(
        self,
        job: Job,
        remote_filename: str,
        local_file: str | os.PathLike[str] | IO[bytes],
        offset: int = 0,
        size: int | None = None,
    ) -> int:
        """Copy part of a sandbox file to ``local_file``; return the bytes written."""
        self._check_open()
        self._check_own(job)
        name = sandbox_name(remote_filename, "file to peek at")
        if size is not None and size < 0:
            raise ValueError(f"peek size must be None or >= 0, got {size}")
        target = os.fspath(local_file) if isinstance(local_file, (str, os.PathLike)) else local_file
        count: int = self.hook.peek(
            resource=self, job=job, remote_filename=name, local_file=target, offset=offset,
            size=size)
        return count

    def free(self, job: Job) -> None:
        """Delete the job's sandbox on the resource; only for TERMINATED jobs."""
        self._check_open()
        if job.state != State.TERMINATED:
            raise InvalidJobState(
                f"job {job.jobid} is {job.state.value}: only a TERMINATED job can be freed "
                "(cancel it and wait for it to terminate first)")
        self._check_own(job)
        self.hook.free(resource=self, job=job)

    def get_resource_status(self) -> ResourceStatus:
        """Read the resource's current load."""
        self._check_open()
        status: ResourceStatus = self.hook.get_resource_status(resource=self)
        self.status = status
        self.hook.resource_status_updated(resource=self, status=status)
        return status

    def validate_data(self, data_file_list: Sequence[str]) -> bool:
        """True if the backend can transfer every URL in the list."""
        self._check_open()
        return bool(self.hook.validate_data(resource=self, data_file_list=list(data_file_list)))

    def script_lines(self, app: Application, job: Job) -> list[str]:
        """Lines that extension plugins add to the job script (in registration order)."""
        groups = self.hook.job_script_lines(resource=self, app=app, job=job)
        return [line for group in reversed(groups) for line in (group or [])]

    def close(self) -> None:
        """Release the backend's and transport's connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.hook.close(resource=self)
        finally:
            if self._transport is not None:
                self._transport.close()

    def __enter__(self) -> LRMS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, Any], auth: Auth | None) -> LRMS:
        """Build a resource from a checked config section (see :mod:`lrms.config`)."""
        values = dict(options)
        return cls(
            name, values.pop("architecture"), values.pop("max_cores"),
            values.pop("max_cores_per_job"), values.pop("max_memory_per_core"),
            values.pop("max_walltime"), auth, **values)


def _check_same_requests(first: Application, app: Application) -> None:
    """Refuse ``app`` in an array with ``first`` if a field of ``REQUEST_FIELDS`` differs."""
    if app.requests_key() == first.requests_key():
        return
    field = next(name for name, mine, theirs in zip(
        REQUEST_FIELDS, first.requests_key(), app.requests_key(), strict=True) if mine != theirs)
    raise ValueError(
        f"submit_jobs: jobs {first.jobname!r} and {app.jobname!r} differ in {field} "
        f"({getattr(first, field)!r} and {getattr(app, field)!r}); the jobs of one call must "
        "have the same requests (group them by Application.requests_key())")


def _per_task(app: Application) -> str:
    if app.nodes == 1 and app.tasks_per_node == 1:
        return ""
    return (f" ({app.nodes} node(s) x {app.tasks_per_node} task(s) x {app.requested_cores} "
            "core(s))")


def _shown(field: str, value: Any) -> str:
    """A template value as a user writes it: ``a,b`` for lists, ``true`` for flags."""
    if field == "earliest_start":
        return datetime.datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def check_backend(name: str) -> str | None:
    """Load backend ``name`` and check it as a resource would; the problem, or None.

    Builds a throw-away resource with the backend's default options (nothing is
    contacted), so an import error, a missing required method or hook, a wrong
    hook signature or an unsupported plugin API is reported with its cause.
    """
    try:
        LRMS(f"check-{name}", [Arch.local()], 1, 1, "1GiB", "1h", backend=name).close()
    except LRMSError as exc:
        return str(exc)
    except Exception as exc:  # a backend's own constructor failed
        return f"backend {name!r} failed to start: {type(exc).__name__}: {exc}"
    return None
