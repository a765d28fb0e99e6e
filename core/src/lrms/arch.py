"""Processor architectures a resource offers and an application may request."""

from __future__ import annotations

import enum
import platform

__all__ = ["Arch"]

_ALIASES = {
    "amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64",
    "i386": "i686", "i486": "i686", "i586": "i686", "x86": "i686",
    "arm64": "aarch64", "armv8": "aarch64",
    "ppc64el": "ppc64le",
}


class Arch(str, enum.Enum):
    """An architecture; ``Arch("amd64")`` accepts the common aliases."""

    X86_64 = "x86_64"
    I686 = "i686"
    AARCH64 = "aarch64"
    ARMV7L = "armv7l"
    PPC64LE = "ppc64le"
    PPC64 = "ppc64"
    S390X = "s390x"
    RISCV64 = "riscv64"

    @classmethod
    def _missing_(cls, value: object) -> Arch | None:
        if isinstance(value, str):
            name = _ALIASES.get(value.strip().lower(), value.strip().lower())
            for member in cls:
                if member.value == name:
                    return member
        return None

    @classmethod
    def local(cls) -> Arch:
        """The architecture of this machine."""
        return cls(platform.machine())

    def __str__(self) -> str:
        return self.value
