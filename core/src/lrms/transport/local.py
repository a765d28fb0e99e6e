"""The local transport: subprocesses (argv lists) and the local file system."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import IO

from ..errors import TransportError
from .base import CommandResult, FileStat, Transport

__all__ = ["LocalTransport"]


class LocalTransport(Transport):
    """Run commands and move files on this machine."""

    is_local = True
    host = "localhost"

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        try:
            done = subprocess.run(
                list(argv), input=stdin, capture_output=True, timeout=timeout, check=False,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransportError(
                f"{argv[0]} did not finish within {timeout} s on localhost") from exc
        except (FileNotFoundError, PermissionError) as exc:
            # as a shell (and so a command over SSH) says it: exit 127 or 126
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            why = "command not found" if code == 127 else exc.strerror
            return CommandResult(tuple(argv), code, b"", f"{argv[0]}: {why}\n".encode())
        except OSError as exc:
            raise TransportError(f"cannot run {argv[0]} on localhost: {exc.strerror}") from exc
        return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)

    def put(self, local_path: str, remote_path: str) -> None:
        """Copy a file; an executable one keeps its permission bits (``./run.sh`` runs)."""
        shutil.copyfile(local_path, remote_path)
        mode = os.stat(local_path).st_mode & 0o777
        if mode & 0o111:
            os.chmod(remote_path, mode)

    def get(self, remote_path: str, local_path: str) -> None:
        shutil.copyfile(remote_path, local_path)

    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        if mode not in ("rb", "wb", "ab"):
            raise ValueError(f"unsupported mode {mode!r}")
        if mode == "rb":
            return open(path, "rb")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
        return os.fdopen(os.open(path, flags, 0o600), mode)

    def stat(self, path: str) -> FileStat:
        info = os.stat(path)
        return FileStat(info.st_size, info.st_mtime, info.st_mode)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        os.makedirs(path, mode=mode, exist_ok=True)

    def remove(self, path: str, recursive: bool = False) -> None:
        try:
            if recursive and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass

    def rename(self, source: str, target: str) -> None:
        os.replace(source, target)

    def home(self) -> str:
        return os.path.expanduser("~")

    def put_tree(self, local_dir: str, remote_dir: str) -> None:
        shutil.copytree(local_dir, remote_dir, dirs_exist_ok=True)
