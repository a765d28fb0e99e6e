"""Finding and loading backends by name (entry-point group ``lrms.backends``).

Listing reads entry-point metadata only; loading imports exactly the named
backend through a :class:`stevedore.driver.DriverManager`.
"""

from __future__ import annotations

import dataclasses
from importlib import metadata
from typing import Any

from .errors import BackendError, BackendNotFound

__all__ = [
    "GROUP", "BackendInfo", "list_backends", "load_backend_class", "missing_methods",
    "not_found_message",
]

GROUP = "lrms.backends"


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """An installed backend, as its distribution's metadata declares it."""

    name: str
    target: str
    distribution: str | None
    version: str | None


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=GROUP))


def list_backends() -> list[BackendInfo]:
    """Installed backends, sorted by name, without importing any of them."""
    infos = {}
    for entry in _entry_points():
        dist = getattr(entry, "dist", None)
        infos[entry.name] = BackendInfo(
            entry.name, entry.value,
            dist.metadata["Name"] if dist is not None else None,
            dist.version if dist is not None else None,
        )
    return [infos[name] for name in sorted(infos)]


def not_found_message(name: str) -> str:
    installed = ", ".join(info.name for info in list_backends()) or "none"
    return (
        f"no backend named {name!r} is installed (installed: {installed}); "
        f"install it with: pip install lrms-{name}"
    )


def load_backend_class(name: str) -> Any:
    """Import and return the class registered as backend ``name``."""
    from stevedore import driver
    from stevedore.exception import NoMatches

    info = next((i for i in list_backends() if i.name == name), None)
    if info is None:
        raise BackendNotFound(not_found_message(name))
    failures: list[BaseException] = []

    def failed(_manager: Any, _entry: Any, exc: BaseException) -> None:
        failures.append(exc)

    try:
        manager = driver.DriverManager(
            GROUP, name, invoke_on_load=False, on_load_failure_callback=failed,
        )
    except NoMatches:
        cause = failures[0] if failures else None
        why = f"{type(cause).__name__}: {cause}" if cause else "no cause reported"
        raise BackendError(
            f"backend {name!r} (entry point {name} = {info.target} in distribution "
            f"{info.distribution or '?'}) failed to load: {why}"
        ) from cause
    return manager.driver


def missing_methods(backend_class: Any) -> list[str]:
    """What ``backend_class`` leaves unimplemented, sorted: its abstract methods (e.g. a
    :class:`~lrms.batch.BatchBackend` subclass without ``query``) and what a feature it
    opted into still needs (its ``incomplete_methods()``, e.g. arrays without ``task_id``)."""
    missing = set(getattr(backend_class, "__abstractmethods__", ()))
    incomplete = getattr(backend_class, "incomplete_methods", None)
    if callable(incomplete):
        missing.update(incomplete())
    return sorted(missing)
