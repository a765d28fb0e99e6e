"""What to run: :class:`Application`, an argv with its files and requests."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from .arch import Arch
from .quantity import Duration, Memory

__all__ = ["Application", "sandbox_name"]

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
    ) -> None:
        if isinstance(arguments, (str, bytes)) or not isinstance(arguments, Sequence):
            raise TypeError(
                "Application arguments must be an argv list such as ['echo', 'hi'], "
                f"not {arguments!r}"
            )
        argv = [str(a) if isinstance(a, os.PathLike) else a for a in arguments]
        if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise ValueError(f"Application needs a non-empty argv list of strings, got {argv!r}")
        if isinstance(requested_cores, bool) or not isinstance(requested_cores, int) or (
            requested_cores < 1
        ):
            raise ValueError(f"requested_cores must be a positive int, got {requested_cores!r}")
        set_ = object.__setattr__
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
        set_(self, "requested_cores", requested_cores)
        set_(self, "requested_memory", _requested(
            "requested_memory", Memory.positive, requested_memory))
        set_(self, "requested_walltime", _requested(
            "requested_walltime", Duration.positive, requested_walltime))
        set_(self, "requested_architecture",
             None if requested_architecture is None else Arch(requested_architecture))
        set_(self, "extra", {str(k): dict(v) for k, v in (extra or {}).items()})

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Application:
        fields = dict(data)
        arguments = fields.pop("arguments")
        if fields.get("requested_memory") is not None:
            fields["requested_memory"] = Memory(int(fields["requested_memory"]))
        if fields.get("requested_walltime") is not None:
            fields["requested_walltime"] = Duration(float(fields["requested_walltime"]))
        return cls(arguments, **fields)


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
