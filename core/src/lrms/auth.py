"""Authentication objects and the :func:`authenticated` decorator.

An auth object's ``get()`` makes sure credentials are usable (and returns
them); backends decorate the methods that need credentials with
:func:`authenticated`, which calls it first.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Auth", "SshAuth", "authenticated"]

F = TypeVar("F", bound=Callable[..., Any])


class Auth:
    """Base of auth objects: ``get()`` returns usable credentials or raises."""

    def get(self) -> Any:
        return None


@dataclasses.dataclass(frozen=True)
class SshAuth(Auth):
    """``type: ssh`` credentials for the SSH transport (no secret is stored here).

    ``passphrase_env`` names an environment variable holding the key's
    passphrase, so it never sits in a config file, a log or a repr.
    """

    username: str | None = None
    keyfile: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 10.0
    keepalive: int = 30
    host_key_policy: str = "reject"
    passphrase_env: str | None = None

    def get(self) -> SshAuth:
        return self


def authenticated(method: F) -> F:
    """Call ``self.resource.auth.get()`` before the decorated backend method."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        auth = getattr(self.resource, "auth", None)
        if auth is not None:
            auth.get()
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
