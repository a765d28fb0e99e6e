"""What to run: :class:`Application`, an argv with its files and requests."""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from .arch import Arch
from .dependency import Dependency
from .quantity import Duration, Memory

__all__ = ["CORE_FIELDS", "EMAIL_EVENTS", "LAUNCHERS", "REQUEST_FIELDS", "TEMPLATE_FIELDS",
           "Application", "sandbox_name"]

PathLike = Union[str, "os.PathLike[str]"]


def sandbox_name(name: str, what: str = "file name") -> str:
    """Check that ``name`` is a relative path that stays inside a sandbox.

    Returns it normalised (``a/./b`` -> ``a/b``); raises :class:`ValueError`
    for an absolute path, one that climbs out with ``..``, or an empty one.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty relative path, got {name!r}")
    if "\0" in name:
        raise ValueError(f"{what} {name!r} contains a NUL byte")
    if name.startswith("/") or name.startswith("~"):
        raise ValueError(f"{what} {name!r} is absolute: it must be relative to the job's sandbox")
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"{what} {name!r} escapes the job's sandbox")
    if normal == ".":
        raise ValueError(f"{what} {name!r} names the sandbox itself, not a file in it")
    return normal


#: The portable job template: fields a backend maps to its scheduler or refuses.
TEMPLATE_FIELDS = (
    "workdir", "stdin", "requested_gpus", "account", "qos", "reservation", "email",
    "email_events", "hold", "earliest_start", "after", "nodes", "tasks_per_node", "exclusive",
    "constraint", "launcher",
)
#: Template fields the core handles for every backend (job script, wrapper, staging).
CORE_FIELDS = frozenset({"workdir", "stdin", "launcher"})
#: The fields every task of one scheduler array shares (:meth:`Application.requests_key`).
REQUEST_FIELDS = (
    "requested_cores", "requested_memory", "requested_walltime", "requested_architecture",
    "requested_gpus", "nodes", "tasks_per_node", "exclusive", "constraint", "launcher",
    "account", "qos", "reservation", "email", "email_events", "hold", "earliest_start",
    "after", "workdir", "extra",
)
EMAIL_EVENTS = ("begin", "end", "fail")
LAUNCHERS = ("srun", "mpirun", "mpiexec")


def _is_url(text: str) -> bool:
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isidentifier()


@dataclasses.dataclass(frozen=True)
class Application:
    """An execution request: the argv and everything it needs.

    ``arguments`` is an argv list, never a shell string: each element reaches
    the program byte for byte.  ``inputs`` maps local paths (or URLs) to names
    in the job's sandbox; a plain list uses each file's base name.  ``outputs``
    are sandbox names fetched back by ``get_results``.  ``requested_memory`` is
    the total for the whole job.  ``extra`` holds per-backend options keyed by
    backend name, e.g. ``{"slurm": {"partition": "debug"}}``.

    The job template (``TEMPLATE_FIELDS``, see ``docs/job-template.md``):
    ``requested_cores`` are per task, ``requested_gpus`` per node;
    ``workdir`` is the directory on the resource the program runs in (None:
    the sandbox); ``after`` holds :class:`~lrms.Dependency` entries;
    ``earliest_start`` is a POSIX time.  A backend that cannot map a field set
    to other than its default refuses the job before anything is sent.
    """

    arguments: Sequence[str]
    inputs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    outputs: Sequence[str] = ()
    stdout: str = "stdout"
    stderr: str = "stderr"
    join: bool = False
    stdin: str | None = None
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    jobname: str | None = None
    requested_cores: int = 1
    requested_memory: Memory | None = None
    requested_walltime: Duration | None = None
    requested_architecture: Arch | None = None
    extra: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    workdir: str | None = None
    requested_gpus: int = 0
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    email: str | None = None
    email_events: tuple[str, ...] = ()
    hold: bool = False
    earliest_start: float | None = None
    after: tuple[Dependency, ...] = ()
    nodes: int = 1
    tasks_per_node: int = 1
    exclusive: bool = False
    constraint: str | None = None
    launcher: str | None = None

    def __init__(
        self,
        arguments: Sequence[str],
        *,
        inputs: Mapping[PathLike, str] | Sequence[PathLike] | None = None,
        outputs: Sequence[str] | None = None,
        stdout: str = "stdout",
        stderr: str = "stderr",
        join: bool = False,
        stdin: str | None = None,
        environment: Mapping[str, str] | None = None,
        jobname: str | None = None,
        requested_cores: int = 1,
        requested_memory: Memory | str | None = None,
        requested_walltime: Duration | str | int | None = None,
        requested_architecture: Arch | str | None = None,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
        workdir: str | None = None,
        requested_gpus: int = 0,
        account: str | None = None,
        qos: str | None = None,
        reservation: str | None = None,
        email: str | None = None,
        email_events: Sequence[str] | str = (),
        hold: bool = False,
        earliest_start: float | None = None,
        after: Sequence[Dependency | str | Mapping[str, Any]] = (),
        nodes: int = 1,
        tasks_per_node: int = 1,
        exclusive: bool = False,
        constraint: str | None = None,
        launcher: str | None = None,
    ) -> None:
        if isinstance(arguments, (str, bytes)) or not isinstance(arguments, Sequence):
            raise TypeError(
                "Application arguments must be an argv list such as ['echo', 'hi'], "
                f"not {arguments!r}"
            )
        argv = [str(a) if isinstance(a, os.PathLike) else a for a in arguments]
        if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise ValueError(f"Application needs a non-empty argv list of strings, got {argv!r}")
        set_ = object.__setattr__
        for name, count, least in (("requested_cores", requested_cores, 1),
                                   ("requested_gpus", requested_gpus, 0), ("nodes", nodes, 1),
                                   ("tasks_per_node", tasks_per_node, 1)):
            set_(self, name, _count(name, count, least))
        set_(self, "arguments", tuple(argv))
        set_(self, "inputs", _normalise_inputs(inputs or {}))
        outputs = [outputs] if isinstance(outputs, str) else outputs  # one name, not its chars
        set_(self, "outputs", tuple(sandbox_name(o, "output") for o in (outputs or ())))
        set_(self, "stdout", sandbox_name(stdout, "stdout"))
        set_(self, "stderr", self.stdout if join else sandbox_name(stderr, "stderr"))
        set_(self, "join", bool(join) or self.stdout == self.stderr)
        set_(self, "stdin", None if stdin is None else sandbox_name(stdin, "stdin"))
        env = dict(environment or {})
        for key, value in env.items():
            if not isinstance(key, str) or not key or "=" in key or "\0" in key:
                raise ValueError(f"invalid environment variable name {key!r}")
            if not isinstance(value, str) or "\0" in value:
                raise ValueError(f"environment variable {key} must be a string without NUL")
        set_(self, "environment", env)
        set_(self, "jobname", jobname or posixpath.basename(argv[0]) or "job")
        set_(self, "requested_memory", _requested(
            "requested_memory", Memory.positive, requested_memory))
        set_(self, "requested_walltime", _requested(
            "requested_walltime", Duration.positive, requested_walltime))
        set_(self, "requested_architecture",
             None if requested_architecture is None else Arch(requested_architecture))
        set_(self, "extra", {str(k): dict(v) for k, v in (extra or {}).items()})
        set_(self, "workdir", None if workdir is None else _workdir(workdir))
        for name, word in (("account", account), ("qos", qos), ("reservation", reservation),
                           ("email", email), ("constraint", constraint)):
            set_(self, name, None if word is None else _word(name, word))
        set_(self, "email_events", _email_events(email_events))
        if self.email_events and self.email is None:
            raise ValueError("email_events needs an email address to send the notices to")
        for name, flag in (("hold", hold), ("exclusive", exclusive)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be true or false, got {flag!r}")
            set_(self, name, flag)
        set_(self, "earliest_start", None if earliest_start is None else _time(earliest_start))
        if isinstance(after, (str, Mapping, Dependency)):
            after = [after]
        try:
            set_(self, "after", tuple(dict.fromkeys(Dependency.of(d) for d in after)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"after: {exc}") from None
        if launcher is not None and launcher not in LAUNCHERS:
            raise ValueError(
                f"launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
        set_(self, "launcher", launcher)

    def template_requests(self) -> dict[str, Any]:
        """The job-template fields (``TEMPLATE_FIELDS``) set to other than their default."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {name: getattr(self, name) for name in TEMPLATE_FIELDS
                if getattr(self, name) != defaults[name]}

    def requests_key(self) -> tuple[Any, ...]:
        """The values of ``REQUEST_FIELDS`` (hashable): applications with equal keys can be
        tasks of one scheduler array."""
        return tuple(_hashable(getattr(self, name)) for name in REQUEST_FIELDS)

    @property
    def total_cores(self) -> int:
        """Cores of the whole job: nodes x tasks per node x cores per task."""
        return self.nodes * self.tasks_per_node * self.requested_cores

    @property
    def total_gpus(self) -> int:
        """GPUs of the whole job (``requested_gpus`` is per node)."""
        return self.nodes * self.requested_gpus

    def options_for(self, backend: str) -> dict[str, Any]:
        """This application's extra options for one backend (empty if none)."""
        return dict(self.extra.get(backend, {}))

    def local_inputs(self) -> dict[str, str]:
        """The inputs that are local paths (not URLs)."""
        return {src: dst for src, dst in self.inputs.items() if not _is_url(src)}

    def input_urls(self) -> list[str]:
        return [src for src in self.inputs if _is_url(src)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arguments": list(self.arguments),
            "inputs": dict(self.inputs),
            "outputs": list(self.outputs),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "join": self.join,
            "stdin": self.stdin,
            "environment": dict(self.environment),
            "jobname": self.jobname,
            "requested_cores": self.requested_cores,
            "requested_memory": None if self.requested_memory is None
            else self.requested_memory.bytes,
            "requested_walltime": None if self.requested_walltime is None
            else self.requested_walltime.seconds,
            "requested_architecture": None if self.requested_architecture is None
            else self.requested_architecture.value,
            "extra": {k: dict(v) for k, v in self.extra.items()},
            "workdir": self.workdir,
            "requested_gpus": self.requested_gpus,
            "account": self.account,
            "qos": self.qos,
            "reservation": self.reservation,
            "email": self.email,
            "email_events": list(self.email_events),
            "hold": self.hold,
            "earliest_start": self.earliest_start,
            "after": [dependency.to_dict() for dependency in self.after],
            "nodes": self.nodes,
            "tasks_per_node": self.tasks_per_node,
            "exclusive": self.exclusive,
            "constraint": self.constraint,
            "launcher": self.launcher,
        }

    def to_record(self) -> dict[str, Any]:
        """``to_dict()`` without the fields at their default (``arguments`` and
        ``jobname`` are always there): the compact form the job store keeps."""
        return {name: value for name, value in self.to_dict().items()
                if name in _ALWAYS or value != _record_defaults()[name]}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Application:
        """An application from :meth:`to_record` (or ``to_dict()``) output written by lrms.

        Trusted: the values were checked when the application was made, so only the
        record's shape is checked again (a mapping of known fields with an argv list of
        strings); a damaged record raises :class:`ValueError`, :class:`TypeError` or
        :class:`KeyError`.  Use ``from_dict()`` for data from anywhere else.
        """
        fields = dict(_decoded_defaults())
        fields.update(inputs={}, environment={}, extra={})  # each application its own
        for name, value in data.items():
            if name not in fields:
                raise ValueError(f"unknown application field {name!r}")
            decode = _DECODE.get(name)
            fields[name] = value if decode is None else decode(value)
        if fields["arguments"] is None:
            raise KeyError("arguments")
        app = object.__new__(cls)
        app.__dict__.update(fields)
        return app

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Application:
        fields = dict(data)
        arguments = fields.pop("arguments")
        if fields.get("requested_memory") is not None:
            fields["requested_memory"] = Memory(int(fields["requested_memory"]))
        if fields.get("requested_walltime") is not None:
            fields["requested_walltime"] = Duration(float(fields["requested_walltime"]))
        return cls(arguments, **fields)


_ALWAYS = frozenset({"arguments", "jobname"})  # in every record, whatever their value


def _argv(value: Any) -> tuple[str, ...]:
    if type(value) is not list or not value or not all(type(a) is str for a in value):
        raise TypeError(f"arguments must be a non-empty list of strings, got {value!r}")
    return tuple(value)


#: How :meth:`Application.from_record` turns a record's value into the field's (the
#: other fields are kept as they are).
_DECODE: dict[str, Callable[[Any], Any]] = {
    "arguments": _argv, "outputs": tuple, "inputs": dict, "environment": dict,
    "email_events": tuple, "extra": lambda extra: {str(k): dict(v) for k, v in extra.items()},
    "after": lambda after: tuple(Dependency.of(d) for d in after),
    "requested_memory": lambda value: None if value is None else Memory(value),
    "requested_walltime": lambda value: None if value is None else Duration(value),
    "requested_architecture": lambda value: None if value is None else Arch(value),
}


@functools.cache
def _record_defaults() -> dict[str, Any]:
    """Each field's default as :meth:`Application.to_dict` shows it (``arguments`` and
    ``jobname`` have none: every record holds them)."""
    return Application(["-"]).to_dict()


@functools.cache
def _decoded_defaults() -> dict[str, Any]:
    """Each field's default as an application holds it (``arguments``: None, a record
    must give it)."""
    defaults = {field.name: field.default for field in dataclasses.fields(Application)}
    return {**defaults, "arguments": None, "jobname": None}


def _hashable(value: Any) -> Any:
    """``value`` with its mappings (``extra``) as sorted tuples, so it can key a dict."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), _hashable(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    return value


def _count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        kind = "a positive int" if least else "an int of at least 0"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value


def _word(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or not value.isprintable() or any(
            c.isspace() for c in value):
        raise ValueError(f"{name} must be a non-empty word without spaces, got {value!r}")
    return value


def _workdir(value: Any) -> str:
    if not isinstance(value, str) or not value.isprintable() or not (
            value.startswith("/") or value == "~" or value.startswith("~/")):
        raise ValueError(
            f"workdir must be an absolute directory on the resource or ~/..., got {value!r}")
    return value


def _email_events(value: Sequence[str] | str) -> tuple[str, ...]:
    events = (value.split(",") if value else []) if isinstance(value, str) else list(value)
    for event in events:
        if event not in EMAIL_EVENTS:
            raise ValueError(
                f"email_events must be among {', '.join(EMAIL_EVENTS)}, got {event!r}")
    return tuple(event for event in EMAIL_EVENTS if event in events)


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value < 0:
        raise ValueError(f"earliest_start must be a POSIX time in seconds, got {value!r}")
    return float(value)


def _requested(name: str, positive: Callable[[Any], Any], value: Any) -> Any:
    """A requested quantity (more than zero), or None; a problem names the request."""
    if value is None:
        return None
    try:
        return positive(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _normalise_inputs(inputs: Mapping[PathLike, str] | Sequence[PathLike]) -> dict[str, str]:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    pairs = (
        inputs.items() if isinstance(inputs, Mapping)
        else ((src, posixpath.basename(os.fspath(src).rstrip("/"))) for src in inputs)
    )
    result: dict[str, str] = {}
    for src, dst in pairs:
        source = os.fspath(src)
        result[source if _is_url(source) else os.path.abspath(os.path.expanduser(source))] = (
            sandbox_name(dst, f"input name for {source!r}")
        )
    return result
