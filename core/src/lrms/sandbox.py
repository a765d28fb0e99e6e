"""Per-job sandboxes on the resource, and the backend base class that uses them.

Every backend in this project runs a job in a sandbox directory on its
resource (``<spool>/jobs/<jobid>``); staging inputs in, fetching results,
peeking at files and freeing the sandbox work the same for all of them, over
any :class:`~lrms.transport.Transport`.  :class:`SandboxBackend` implements
those hooks once; a backend adds submit, state, cancel and status.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import stat as stat_module
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar

from .application import Application
from .errors import LRMSError
from .hookspecs import hookimpl
from .job import Job
from .options import Option
from .transport import FileStat, Transport

if TYPE_CHECKING:
    from .resource import LRMS

__all__ = ["Backend", "SandboxBackend", "fetch_outputs", "output_files", "peek_file", "real_paths",
           "stage_inputs"]

log = logging.getLogger(__name__)
CHUNK = 1 << 20
#: Paths resolved by one remote ``realpath`` command.
REALPATH_BATCH = 200


class Backend:
    """Base of backends: keeps the resource, declares options and the plugin API.

    ``options`` lists the YAML keys this backend accepts beyond the core ones;
    ``lrms_api`` the plugin API major versions it supports (comma-separated);
    ``template_fields`` the job-template fields (``Application.template_requests``)
    it maps to its scheduler: the facade refuses a job that sets any other;
    ``after_conditions`` the dependency conditions it maps natively (Grid
    Engine: only ``any``; the engine holds the other dependencies);
    ``poll_interval`` the default seconds between status queries of one
    resource, shared by every process using a job store (a resource's
    ``poll_interval`` setting overrides it; :meth:`default_poll_interval` may
    refine it per resource).
    """

    name: ClassVar[str] = ""
    options: ClassVar[Sequence[Option]] = ()
    template_fields: ClassVar[frozenset[str]] = frozenset()
    #: With ``after`` in ``template_fields``: the conditions the scheduler can wait for.
    after_conditions: ClassVar[frozenset[str]] = frozenset({"ok", "any"})
    lrms_api: ClassVar[str] = "1"
    poll_interval: ClassVar[float] = 10.0

    def __init__(self, resource: LRMS) -> None:
        self.resource = resource
        self._login_user: str | None = None

    @property
    def transport(self) -> Transport:
        return self.resource.transport

    def default_poll_interval(self) -> float:
        """Seconds between status queries when the resource sets none: ``poll_interval``."""
        return float(self.poll_interval)

    @property
    def login_user(self) -> str:
        """The user the transport runs commands as on the resource (asked once)."""
        if self._login_user is None:
            self._login_user = self.transport.check(["id", "-un"]).text.strip()
        return self._login_user


class SandboxBackend(Backend):
    """A backend whose jobs run in a sandbox under ``spool`` on the resource.

    Implements ``get_results``, ``peek``, ``free``, ``validate_data`` and
    ``close``; subclasses implement ``submit_job``, ``update_job_states``,
    ``cancel_job`` and ``get_resource_status``.
    """

    options: ClassVar[Sequence[Option]] = (
        Option("spool", "string", "~/.lrms/{resource}",
               "Directory on the resource holding job sandboxes ({resource} is the "
               "resource's name; ~ is the login user's home there)."),
    )
    #: URL schemes ``validate_data`` accepts (inputs are staged by the transport).
    protocols: ClassVar[frozenset[str]] = frozenset({"file"})

    def __init__(self, resource: LRMS) -> None:
        super().__init__(resource)
        self._spool: str | None = None

    @property
    def spool(self) -> str:
        """The spool directory, absolute on the resource (resolved on first use)."""
        if self._spool is None:
            pattern = str(self.resource.options.get("spool") or "~/.lrms/{resource}")
            path = self.transport.expanduser(pattern.replace("{resource}", self.resource.name))
            if not posixpath.isabs(path):
                path = posixpath.join(self.transport.home(), path)
            try:
                self.transport.makedirs(path, 0o700)
            except OSError as exc:
                raise LRMSError(
                    f"resource {self.resource.name}: cannot create the spool directory {path} "
                    f"on {self.transport.host}: {exc.strerror or exc}; set the resource's "
                    "'spool' option to a writable directory") from exc
            self._spool = path
        return self._spool

    def sandbox_path(self, jobid: str) -> str:
        """Where the sandbox of job ``jobid`` is (or would be) on the resource."""
        return posixpath.join(self.spool, "jobs", jobid)

    def make_sandbox(self, app: Application, job: Job) -> str:
        """Create the job's sandbox (mode 0700) with its inputs in it; return its path."""
        sandbox = self.sandbox_path(job.jobid)
        self.transport.makedirs(sandbox, 0o700)
        job.sandbox = sandbox
        stage_inputs(self.transport, app, sandbox)
        return sandbox

    @hookimpl
    def get_results(
        self, job: Job, download_dir: str, overwrite: bool, changed_only: bool
    ) -> list[str]:
        assert job.sandbox is not None
        return fetch_outputs(
            self.transport, job.sandbox, job.app.outputs, download_dir, overwrite, changed_only)

    @hookimpl
    def peek(
        self,
        job: Job,
        remote_filename: str,
        local_file: str | IO[bytes],
        offset: int,
        size: int | None,
    ) -> int:
        assert job.sandbox is not None
        path = posixpath.join(job.sandbox, remote_filename)
        return peek_file(self.transport, path, local_file, offset, size)

    @hookimpl
    def free(self, job: Job) -> bool:
        if job.sandbox:
            self.transport.remove(job.sandbox, recursive=True)
        return True

    @hookimpl
    def validate_data(self, data_file_list: Sequence[str]) -> bool:
        for url in data_file_list:
            scheme, sep, _ = url.partition("://")
            if not sep or scheme.lower() not in self.protocols:
                return False
        return True

    @hookimpl
    def close(self) -> bool:
        return True


def stage_inputs(transport: Transport, app: Application, sandbox: str) -> None:
    """Copy the application's inputs (files or directories) into ``sandbox``."""
    for source, name in app.inputs.items():
        local = source[len("file://"):] if source.startswith("file://") else source
        target = posixpath.join(sandbox, name)
        parent = posixpath.dirname(target)
        if parent != sandbox:
            transport.makedirs(parent, 0o700)
        if os.path.isdir(local):
            transport.put_tree(local, target)
        else:
            transport.put(local, target)


def fetch_outputs(
    transport: Transport,
    sandbox: str,
    names: Sequence[str],
    download_dir: str,
    overwrite: bool,
    changed_only: bool,
) -> list[str]:
    """Copy sandbox files or trees ``names`` into ``download_dir``; return the paths written.

    Files are downloaded under a temporary name and renamed into place, so an
    interrupted transfer never leaves a half-written file under the real name.
    Only regular files inside the sandbox are copied (see :func:`output_files`).
    A file that cannot be copied (local disk full or unwritable, remote file
    unreadable) does not stop the others: :class:`LRMSError` naming each such
    file is raised at the end.
    """
    written: list[str] = []
    failures: list[str] = []
    [root] = real_paths(transport, [sandbox])
    for name in names:
        try:
            files = output_files(transport, sandbox, root, name)
        except FileNotFoundError:
            log.warning("output %s not found in sandbox %s; skipped", name, sandbox)
            continue
        except OSError as exc:
            failures.append(f"{name} ({exc.strerror or exc})")
            continue
        for relative, info in files:
            parts = [*name.split("/"), *(relative.split("/") if relative else [])]
            local = os.path.join(download_dir, *parts)
            try:
                if _copy(transport, posixpath.join(sandbox, *parts), info, local, overwrite,
                         changed_only):
                    written.append(local)
            except OSError as exc:
                failures.append(f"{'/'.join(parts)} ({exc.strerror or exc})")
    if failures:
        raise LRMSError(f"cannot copy {', '.join(failures)}")
    return written


def _copy(transport: Transport, remote: str, info: FileStat, local: str, overwrite: bool,
          changed_only: bool) -> bool:
    """Download one file unless the local copy is kept; True if it was written."""
    if os.path.lexists(local):
        if not overwrite:
            return False
        if changed_only:
            mine = os.stat(local)
            if mine.st_size == info.size and info.mtime <= mine.st_mtime:
                return False
    os.makedirs(os.path.dirname(local), exist_ok=True)
    partial = os.path.join(os.path.dirname(local), f".{os.path.basename(local)}.lrms-part")
    try:
        transport.get(remote, partial)
        os.utime(partial, (info.mtime, info.mtime))
        os.replace(partial, local)
    finally:
        if os.path.lexists(partial):
            os.unlink(partial)
    return True


def output_files(
    transport: Transport, sandbox: str, root: str, name: str
) -> list[tuple[str, FileStat]]:
    """The regular files of output ``name`` as (path relative to it, stat).

    ``root`` is the sandbox with its links resolved (:func:`real_paths`).
    Symbolic links are followed while they lead to a path inside the sandbox,
    except a link to a folder above the output or already walked (so a loop
    ends); those, a link that leads out of the sandbox, a broken link and
    anything but a regular file or a directory are skipped with a warning.
    ``FileNotFoundError`` if ``name`` does not exist.
    """
    top = posixpath.join(sandbox, name)
    [real] = real_paths(transport, [top])
    if not _inside(real, root):
        _refuse(name, real, sandbox)
        return []
    info = transport.stat(top)
    if not info.is_dir:
        return [("", info)] if stat_module.S_ISREG(info.mode) else _odd(name, sandbox)
    found: list[tuple[str, FileStat]] = []
    walked = {real}
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = posixpath.join(top, relative) if relative else top
        children = sorted(transport.listdir(folder))
        paths = [posixpath.join(folder, child) for child in children]
        for child, path, target in zip(children, paths, real_paths(transport, paths),
                                       strict=True):
            shown = posixpath.join(relative, child) if relative else child
            if not _inside(target, root):
                _refuse(posixpath.join(name, shown), target, sandbox)
                continue
            try:
                child_info = transport.stat(path)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ELOOP):
                    raise
                log.warning("output %s in sandbox %s is a broken symbolic link; skipped",
                            posixpath.join(name, shown), sandbox)
                continue
            if child_info.is_dir:
                if target in walked or _inside(real, target):
                    log.warning("output %s in sandbox %s is a symbolic link to a folder above "
                                "it or already fetched; skipped", posixpath.join(name, shown),
                                sandbox)
                else:
                    walked.add(target)
                    pending.append(shown)
            elif stat_module.S_ISREG(child_info.mode):
                found.append((shown, child_info))
            else:
                _odd(posixpath.join(name, shown), sandbox)
    return found


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _refuse(name: str, target: str, sandbox: str) -> None:
    log.warning("output %s in sandbox %s is a symbolic link to %s, outside the sandbox; refused",
                name, sandbox, target)


def _odd(name: str, sandbox: str) -> list[tuple[str, FileStat]]:
    log.warning("output %s in sandbox %s is not a regular file or a directory; skipped",
                name, sandbox)
    return []


def real_paths(transport: Transport, paths: Sequence[str]) -> list[str]:
    """Each path on the resource with every symbolic link in it resolved.

    Missing parts (and links in a loop) are kept as they are.  Remote paths
    are resolved by the resource's ``realpath`` (GNU coreutils), in batches
    of :data:`REALPATH_BATCH`; :class:`LRMSError` if it fails.
    """
    if transport.is_local:
        return [os.path.realpath(path) for path in paths]
    found: list[str] = []
    for start in range(0, len(paths), REALPATH_BATCH):
        batch = paths[start:start + REALPATH_BATCH]
        answer = transport.check(["realpath", "-m", "-z", "--", *batch]).stdout
        resolved = answer.decode("utf-8", "surrogateescape").split("\0")[:-1]
        if len(resolved) != len(batch):
            raise LRMSError(f"realpath on {transport.host} answered {len(resolved)} paths "
                            f"for {len(batch)}")
        found += resolved
    return found


def peek_file(
    transport: Transport,
    path: str,
    local_file: str | IO[bytes],
    offset: int,
    size: int | None,
) -> int:
    """Copy ``size`` bytes from ``offset`` (negative: from the end) of ``path``."""
    total = transport.stat(path).size
    start = max(0, total + offset) if offset < 0 else min(offset, total)
    count = total - start if size is None else min(size, total - start)
    out: Any = open(local_file, "wb") if isinstance(local_file, str) else local_file  # noqa: SIM115
    try:
        with transport.open(path, "rb") as source:
            source.seek(start)
            remaining = count
            while remaining > 0:
                chunk = source.read(min(CHUNK, remaining))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
    finally:
        if isinstance(local_file, str):
            out.close()
    return count - remaining
