"""Extension plugins: the ``lrms.plugins`` entry-point group and :func:`register`."""

from __future__ import annotations

import logging
from typing import Any

from .errors import BackendError
from .hookspecs import OPERATIONS, OPTIONAL_OPERATIONS, PROJECT

__all__ = ["extension_plugins", "register", "unregister"]

log = logging.getLogger(__name__)
GROUP = "lrms.plugins"
_registered: list[Any] = []
_from_entry_points: list[Any] | None = None


def register(plugin: Any) -> None:
    """Add an extension plugin (an object or module with ``@lrms.hookimpl`` methods).

    It takes part in every resource created afterwards.
    """
    check_extension(plugin)
    if plugin not in _registered:
        _registered.append(plugin)


def unregister(plugin: Any) -> None:
    """Remove a plugin added with :func:`register` (resources made later lack it)."""
    if plugin in _registered:
        _registered.remove(plugin)


def check_extension(plugin: Any) -> None:
    """Refuse an extension that implements an operation hook outright (not as a wrapper)."""
    for name in (*OPERATIONS, *OPTIONAL_OPERATIONS):
        method = getattr(plugin, name, None)
        opts = getattr(method, f"{PROJECT}_impl", None) if method is not None else None
        if opts is not None and not (opts.get("wrapper") or opts.get("hookwrapper")):
            raise BackendError(
                f"extension plugin {plugin!r} implements the operation hook {name!r}; "
                "extensions may only wrap operations (@lrms.hookimpl(wrapper=True))"
            )


def extension_plugins() -> list[Any]:
    """Plugins from the ``lrms.plugins`` group (loaded once) and from :func:`register`."""
    global _from_entry_points
    if _from_entry_points is None:
        from stevedore import extension

        def failed(_manager: Any, entry: Any, exc: BaseException) -> None:
            log.error("extension plugin %s = %s failed to load: %s", entry.name, entry.value, exc)

        manager = extension.ExtensionManager(GROUP, on_load_failure_callback=failed)
        loaded = []
        for ext in manager:
            try:
                check_extension(ext.plugin)
            except BackendError as exc:
                log.error("extension plugin %s ignored: %s", ext.name, exc)
            else:
                loaded.append(ext.plugin)
        _from_entry_points = loaded
    return [*_from_entry_points, *_registered]
