"""Login keys and host keys: loading keys, unknown and changed host keys, their messages."""

from __future__ import annotations

import logging
import os
import threading
from typing import cast

import paramiko

from ...errors import AuthenticationError, HostKeyError
from .settings import Target

log = logging.getLogger(__name__)


def passphrase_hint(what: str, env_name: str | None) -> str:
    """How to give the passphrase of an encrypted key."""
    hint = (f"{what} is protected by a passphrase: set passphrase_env in the auth section "
            "to the name of an environment variable holding it")
    if env_name:
        hint += f" (the variable {env_name} named by passphrase_env is unset or empty)"
    return hint


def load_key(path: str, passphrase: str | None, env_name: str | None) -> paramiko.PKey:
    """The private key in ``path``; every failure is an :class:`AuthenticationError`."""
    if not os.path.isfile(path):
        raise AuthenticationError(f"SSH key file {path} (auth keyfile) does not exist")
    try:
        try:
            return paramiko.PKey.from_path(path)
        except TypeError:  # cryptography: encrypted and no password given
            if not passphrase:
                hint = passphrase_hint(f"SSH key file {path}", env_name)
                raise AuthenticationError(hint) from None
            return paramiko.PKey.from_path(path, cast(str, passphrase.encode()))
    except AuthenticationError:
        raise
    except (ValueError, TypeError, OSError, paramiko.SSHException) as exc:
        hint = f"; is the passphrase in ${env_name} right?" if passphrase else ""
        raise AuthenticationError(
            f"cannot load SSH key file {path}: {type(exc).__name__}: {exc}{hint}") from None


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Unknown host keys: refuse with instructions, or (accept-new) record them."""

    _append_lock = threading.Lock()

    def __init__(self, target: Target) -> None:
        self.target = target

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        path = self.target.known_hosts
        if self.target.host_key_policy != "accept-new":
            raise HostKeyError(
                f"the host key of {hostname} is unknown (not in {path}); the server offered "
                f"{key.get_name()} {key.fingerprint}. Check this fingerprint with the host's "
                f"administrator, then add the key with: ssh-keyscan -p {self.target.port} "
                f"{self.target.hostname} >> {path} (compare: ssh-keygen -lf {path}), or set "
                "host_key_policy: accept-new in the auth section to trust it on first use")
        with self._append_lock:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            with open(path, "a+b", opener=lambda p, flags: os.open(p, flags, 0o644)) as handle:
                size = handle.seek(0, os.SEEK_END)
                if size and (handle.seek(size - 1), handle.read(1))[1] != b"\n":
                    handle.write(b"\n")
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n".encode())
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning("accepted new host key for %s (%s %s) and added it to %s",
                    hostname, key.get_name(), key.fingerprint, path)


def _known_hosts_line(path: str, name: str) -> int | None:
    """The line of ``path`` holding a key for ``name`` (plain or hashed), if any."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if fields and fields[0].startswith("@"):
            fields = fields[1:]
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        for pattern in fields[0].split(","):
            if pattern == name or (pattern.startswith("|1|")
                                   and paramiko.HostKeys.hash_host(name, pattern) == pattern):
                return number
    return None


def changed_key_error(target: Target, exc: paramiko.BadHostKeyException) -> HostKeyError:
    """The refusal of a host key that differs from the known_hosts entry."""
    name, path = target.known_hosts_name, target.known_hosts
    line = _known_hosts_line(path, name)
    where = f"{path}:{line}" if line else path
    return HostKeyError(
        f"the host key of {name} has CHANGED: the server offered {exc.key.get_name()} "
        f"{exc.key.fingerprint} but {where} has {exc.expected_key.get_name()} "
        f"{exc.expected_key.fingerprint}. This may be an attack (someone intercepting the "
        "connection) or a reinstalled host; lrms refuses to connect whatever host_key_policy "
        f"says. If the change is expected, verify the new fingerprint, remove the old entry "
        f"(line {line or '?'} of {path}, or: ssh-keygen -R '{name}' -f {path}) and add the new key")
