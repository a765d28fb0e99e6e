"""The local files a command line names, sent with its job (``lrms run`` and ``lrms submit``).

Every word of the command that is a relative path to an existing regular file in
the current directory (or below it, never out of it with ``..``) becomes an input
under the same relative name, so ``python3 sim.py`` and ``./run.sh`` find their
files in the job's sandbox, where each job also writes its results.  An input
given with ``--input`` for the same file or the same name wins.  A job with a
``--workdir`` runs where its files are on the resource: nothing is added.  The
Python API (:class:`~lrms.Application`) never adds inputs by itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
from collections.abc import Iterable

from ..application import Application

log = logging.getLogger(__name__)


def _relative_name(word: str) -> str | None:
    """``word`` as a path that stays below the current directory, or None."""
    if not word or word[0] in "/~-" or "\0" in word:
        return None
    name = posixpath.normpath(word)
    if name in (".", "..") or name.startswith("../"):
        return None
    return name


def named_files(words: Iterable[str], cwd: str) -> dict[str, str]:
    """The files ``words`` name below ``cwd``: absolute local path -> sandbox name."""
    found: dict[str, str] = {}
    for word in words:
        name = _relative_name(word)
        if name is not None:
            path = os.path.join(cwd, name)
            if os.path.isfile(path):
                found.setdefault(path, name)
    return found


def stage_command(app: Application, cwd: str | None = None) -> Application:
    """``app`` with the local files its command names as inputs (see the module docstring)."""
    if app.workdir is not None:
        return app
    files = named_files(app.arguments, cwd or os.getcwd())
    names = set(app.inputs.values())
    added = {path: name for path, name in files.items()
             if path not in app.inputs and name not in names}
    if not added:
        return app
    for path, name in added.items():
        log.info("sending %s with job %r as %s", path, app.jobname, name)
    return dataclasses.replace(app, inputs={**app.inputs, **added})
