"""File operations on one SFTP session, with the semantics of :class:`~lrms.transport.Transport`."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat as stat_module

import paramiko

from ..base import FileStat


def filestat(attrs: paramiko.SFTPAttributes) -> FileStat:
    return FileStat(attrs.st_size or 0, float(attrs.st_mtime or 0), attrs.st_mode or 0)


def upload(sftp: paramiko.SFTPClient, local_path: str, remote_path: str) -> None:
    """Copy a local file; an executable one keeps its permission bits (``./run.sh`` runs)."""
    sftp.put(local_path, remote_path, confirm=False)
    mode = os.stat(local_path).st_mode & 0o777
    if mode & 0o111:
        sftp.chmod(remote_path, mode)


def download(sftp: paramiko.SFTPClient, remote_path: str, local_path: str) -> None:
    sftp.stat(remote_path)  # fail before creating the local file
    sftp.get(remote_path, local_path)


def open_file(sftp: paramiko.SFTPClient, path: str, mode: str) -> paramiko.SFTPFile:
    """``path`` opened in ``mode`` (rb, wb, ab); writes are pipelined."""
    handle = sftp.open(path, mode)
    if mode != "rb":
        handle.set_pipelined(True)
    return handle


def read_all(sftp: paramiko.SFTPClient, path: str) -> bytes:
    with sftp.open(path, "rb") as handle:
        handle.prefetch()
        return handle.read()


def makedirs(sftp: paramiko.SFTPClient, path: str, mode: int) -> None:
    """``os.makedirs(path, mode, exist_ok=True)``, ``mode`` applied despite the umask."""
    missing: list[str] = []
    current = posixpath.normpath(path)
    while current not in ("", "/", "."):
        try:
            info = sftp.stat(current)
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
            continue
        if not stat_module.S_ISDIR(info.st_mode or 0):
            raise FileExistsError(errno.EEXIST, "exists and is not a directory", current)
        break
    for directory in reversed(missing):
        try:
            sftp.mkdir(directory, mode)
        except OSError:
            if not stat_module.S_ISDIR(sftp.stat(directory).st_mode or 0):
                raise
            continue  # created meanwhile by someone else
        sftp.chmod(directory, mode)  # mkdir applied the remote umask


def unlink(sftp: paramiko.SFTPClient, path: str) -> None:
    """Remove a file; a missing one is no error."""
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(path)


def rename(sftp: paramiko.SFTPClient, source: str, target: str) -> None:
    """Rename, replacing ``target`` (also without the posix-rename extension)."""
    try:
        sftp.posix_rename(source, target)
    except OSError as exc:
        if exc.errno is not None or "unsupported" not in str(exc).lower():
            raise
        # no posix-rename@openssh.com: plain SFTP rename refuses to replace
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(target)
        sftp.rename(source, target)


def walk(sftp: paramiko.SFTPClient, top: str) -> list[tuple[str, FileStat]]:
    """Files under ``top`` (symlinks followed) with their stat, one round trip per directory."""
    info = filestat(sftp.stat(top))
    if not info.is_dir:
        return [("", info)]
    found: list[tuple[str, FileStat]] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        entries = sftp.listdir_attr(posixpath.join(top, relative) if relative else top)
        for entry in sorted(entries, key=lambda e: e.filename):
            child = posixpath.join(relative, entry.filename) if relative else entry.filename
            child_info = filestat(entry)
            if stat_module.S_ISLNK(child_info.mode):
                child_info = filestat(sftp.stat(posixpath.join(top, child)))
            if child_info.is_dir:
                pending.append(child)
            else:
                found.append((child, child_info))
    return found
