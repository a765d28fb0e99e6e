"""Where and how to log in: explicit settings, then the OpenSSH client config (ProxyJump too)."""

from __future__ import annotations

import dataclasses
import getpass
import os
from typing import Any

import paramiko

from ...auth import SshAuth
from ...errors import ConfigError, TransportError

#: Environment variable naming an alternative OpenSSH client config file.
CONFIG_ENV = "LRMS_SSH_CONFIG"

_MAX_JUMPS = 8


@dataclasses.dataclass(frozen=True)
class Target:
    """Where and how to log in; equal targets share a pooled connection."""

    hostname: str
    port: int
    username: str
    keyfiles: tuple[str, ...]
    explicit_key: bool
    known_hosts: str
    host_key_policy: str
    passphrase_env: str | None
    connect_timeout: float
    keepalive: int
    proxy_command: str | None = None
    jump: Target | None = None

    def __str__(self) -> str:
        return f"{self.username}@{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def load_config(path: str | None) -> paramiko.SSHConfig | None:
    """The ssh config named by ``path``, else ``$LRMS_SSH_CONFIG``, else ``~/.ssh/config``."""
    source = "the ssh_config argument"
    if path is None:
        path, source = os.environ.get(CONFIG_ENV), f"${CONFIG_ENV}"
    if path is None:
        default = os.path.expanduser("~/.ssh/config")
        path = default if os.path.isfile(default) else "none"
    elif path not in ("", "none") and not os.path.isfile(os.path.expanduser(path)):
        raise TransportError(f"ssh config file {path} (from {source}) does not exist")
    if path in ("", "none"):
        return None
    try:
        return paramiko.SSHConfig.from_path(os.path.expanduser(path))
    except (OSError, paramiko.SSHException) as exc:
        raise TransportError(f"cannot read ssh config file {path}: {exc}") from exc


def resolve(
    host: str,
    port: int | None,
    user: str | None,
    auth: SshAuth,
    config: paramiko.SSHConfig | None,
    jumps: list[str] | None = None,
    depth: int = 0,
) -> Target:
    """Explicit values first, then the ssh config; ``jumps`` overrides its ProxyJump."""
    if depth > _MAX_JUMPS:
        raise TransportError(f"ProxyJump chain to {host} has over {_MAX_JUMPS} hops (a loop?)")
    if auth.host_key_policy not in ("reject", "accept-new"):
        raise ConfigError(f"must be 'reject' or 'accept-new', not {auth.host_key_policy!r}",
                          key="host_key_policy")
    options: dict[str, Any] = dict(config.lookup(host)) if config is not None else {}
    if auth.keyfile:
        keyfiles: tuple[str, ...] = (os.path.expanduser(auth.keyfile),)
    else:
        keyfiles = tuple(os.path.expanduser(p) for p in options.get("identityfile", []))
    jump: Target | None = None
    spec = ",".join(jumps) if jumps is not None else options.get("proxyjump", "")
    if spec and spec != "none":
        hops = spec.split(",")
        hop_user, hop_host, hop_port = _split_hop(hops[-1])
        jump = resolve(hop_host, hop_port, hop_user, auth, config, hops[:-1], depth + 1)
    return Target(
        hostname=options.get("hostname", host),
        port=port or int(options.get("port", 22)),
        username=user or options.get("user") or auth.username or getpass.getuser(),
        keyfiles=keyfiles,
        explicit_key=bool(auth.keyfile),
        known_hosts=os.path.expanduser(auth.known_hosts or "~/.ssh/known_hosts"),
        host_key_policy=auth.host_key_policy,
        passphrase_env=auth.passphrase_env,
        connect_timeout=auth.connect_timeout,
        keepalive=auth.keepalive,
        proxy_command=None if jump else options.get("proxycommand"),
        jump=jump,
    )


def _split_hop(spec: str) -> tuple[str | None, str, int | None]:
    """``[ssh://][user@]host[:port]`` (IPv6 hosts in brackets)."""
    spec = spec.strip()
    spec = spec[len("ssh://"):] if spec.startswith("ssh://") else spec
    user, _, hostport = spec.rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    return user or None, host, int(port) if port else None
