"""Immutable quantities with units: :class:`Memory` and :class:`Duration`.

Both parse the forms people and schedulers write (``"4GB"``, ``"4 GiB"``,
``"512MiB"``, ``"90s"``, ``"2h"``, ``"1:30:00"``, ``"2-12:00:00"``, ``"2 days"``),
compare, add, multiply by an int, and format in each scheduler's syntax.
A string that does not parse raises :class:`ValueError` naming the text.
"""

from __future__ import annotations

import functools
import math
import re

__all__ = ["Duration", "Memory"]

# Decimal units are powers of 1000, binary ones powers of 1024.  A bare
# K/M/G/T/P (as Slurm, SGE and PBS write them) is binary.
_MEMORY_UNITS = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "pb": 1000**5,
    "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4, "pib": 1024**5,
}
_MEMORY_EXAMPLES = "write a number and a unit such as '512MiB', '4GiB', '4GB' or '2G'"
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")
_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_PBS_WORD = 8  # PBS "w": a word of 8 bytes
_PBS_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([kmgtp]?)([bw]?)\s*$", re.IGNORECASE)
_SGE_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtTpP]?)[bB]?\s*$")


@functools.total_ordering
class Memory:
    """An amount of memory, stored as a whole number of bytes.

    >>> Memory("4GiB") == Memory("4096MiB")
    True
    >>> Memory("1.5G").bytes
    1610612736
    """

    __slots__ = ("_bytes",)
    _bytes: int

    def __init__(self, value: str | int | Memory) -> None:
        if isinstance(value, Memory):
            nbytes = value.bytes
        elif isinstance(value, bool):
            raise TypeError("Memory() takes a string, an int of bytes or a Memory, not bool")
        elif isinstance(value, int):
            nbytes = value
        elif isinstance(value, str):
            nbytes = _parse_memory(value)
        else:
            raise TypeError(f"Memory() takes a string, an int of bytes or a Memory, not {value!r}")
        if nbytes < 0:
            raise ValueError(f"memory cannot be negative: {value!r}")
        object.__setattr__(self, "_bytes", nbytes)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Memory is immutable")

    @classmethod
    def positive(cls, value: str | int | Memory) -> Memory:
        """``Memory(value)`` for a request or a limit, where zero is refused."""
        memory = cls(value)
        if not memory.bytes:
            raise ValueError(f"invalid memory quantity {value!r}: it must be more than zero; "
                             f"{_MEMORY_EXAMPLES}")
        return memory

    @classmethod
    def from_units(cls, amount: float, unit: str) -> Memory:
        """``Memory.from_units(5.867, "MB")``: amount times a unit of the table above."""
        try:
            factor = _MEMORY_UNITS[unit.lower()]
        except KeyError:
            raise ValueError(f"unknown memory unit {unit!r}") from None
        return cls(round(amount * factor))

    @classmethod
    def from_pbs(cls, text: str) -> Memory:
        """A PBS size (``13378420kb``, ``8gb``, ``512``, ``4mw``): binary units, ``b``
        bytes or ``w`` words of 8 bytes."""
        match = _PBS_SIZE_RE.match(text)
        if not match:
            raise ValueError(f"invalid PBS size {text!r}: expected e.g. '8gb' or '1024kb'")
        amount, prefix, unit = match.groups()
        factor = _BINARY[prefix.lower()] * (_PBS_WORD if unit.lower() == "w" else 1)
        return cls(round(float(amount) * factor))

    @classmethod
    def from_sge(cls, text: str) -> Memory:
        """A Grid Engine size (sge_types(1)): ``10G``/``13.152M`` binary, ``10g`` decimal,
        a trailing ``B`` allowed (qacct's ``5.867MB``), no unit bytes."""
        match = _SGE_SIZE_RE.match(text)
        if not match:
            raise ValueError(f"invalid Grid Engine size {text!r}: expected e.g. '4G' or '512M'")
        amount, prefix = match.groups()
        power = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
        return cls(round(float(amount) * (1024 if prefix.isupper() else 1000) ** power))

    @property
    def bytes(self) -> int:
        return int(self._bytes)

    @property
    def kib(self) -> int:
        """Whole KiB, rounded up (a scheduler limit must not shrink)."""
        return -(-self.bytes // 1024)

    @property
    def mib(self) -> int:
        """Whole MiB, rounded up."""
        return -(-self.bytes // 1024**2)

    @property
    def gib(self) -> float:
        return self.bytes / 1024**3

    def to_slurm(self) -> str:
        """``--mem`` syntax: whole MiB with the ``M`` suffix."""
        return f"{self.mib}M"

    def to_pbs(self) -> str:
        """PBS ``mem=`` syntax (``mb`` is MiB in PBS)."""
        return f"{self.mib}mb"

    def to_sge(self) -> str:
        """SGE memory complex syntax (``M`` is MiB in SGE)."""
        return f"{self.mib}M"

    def __repr__(self) -> str:
        return f"Memory({str(self)!r})"

    def __str__(self) -> str:
        for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if self.bytes >= factor and self.bytes % factor == 0:
                return f"{self.bytes // factor}{unit}"
        if self.bytes >= 1024**2:
            return f"{self.bytes / 1024**2:.1f}MiB"
        return f"{self.bytes}B"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Memory) and self.bytes == other.bytes

    def __lt__(self, other: Memory) -> bool:
        if not isinstance(other, Memory):
            return NotImplemented
        return self.bytes < other.bytes

    def __hash__(self) -> int:
        return hash(("Memory", self.bytes))

    def __add__(self, other: Memory) -> Memory:
        if not isinstance(other, Memory):
            return NotImplemented
        return Memory(self.bytes + other.bytes)

    def __mul__(self, factor: int) -> Memory:
        if not isinstance(factor, int) or isinstance(factor, bool):
            return NotImplemented
        return Memory(self.bytes * factor)

    __rmul__ = __mul__

    def per(self, count: int) -> Memory:
        """This amount split over ``count`` parts, rounded up (e.g. per slot)."""
        if count <= 0:
            raise ValueError(f"cannot split memory over {count} parts")
        return Memory(-(-self.bytes // count))


def _parse_memory(text: str) -> int:
    match = _MEMORY_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _MEMORY_UNITS:
        raise ValueError(f"invalid memory quantity {text!r}: {_MEMORY_EXAMPLES}")
    return round(float(match.group(1)) * _MEMORY_UNITS[unit])


_DURATION_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_DURATION_EXAMPLES = ("write e.g. '90s', '30min', '2h', '1h30m', '1:30:00', '2-12:00:00' "
                      "or '2 days'")
_DURATION_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*")
_SGE_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_DURATION_CLOCK = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+(?:\.\d*)?))?$")


@functools.total_ordering
class Duration:
    """A length of time, stored as seconds (a float, for measured usage).

    >>> Duration("1:30:00") == Duration("90min") == Duration("1h30m")
    True
    >>> Duration("2-12:00:00").to_slurm()
    '2-12:00:00'
    """

    __slots__ = ("_seconds",)
    _seconds: float

    def __init__(self, value: str | int | float | Duration) -> None:
        if isinstance(value, Duration):
            seconds = value.seconds
        elif isinstance(value, bool):
            raise TypeError("Duration() takes a string, seconds or a Duration, not bool")
        elif isinstance(value, (int, float)):
            seconds = float(value)
        elif isinstance(value, str):
            seconds = _parse_duration(value)
        else:
            raise TypeError(f"Duration() takes a string, seconds or a Duration, not {value!r}")
        if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
            raise ValueError(f"duration must be a finite, non-negative time: {value!r}")
        object.__setattr__(self, "_seconds", seconds)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Duration is immutable")

    @classmethod
    def positive(cls, value: str | int | float | Duration) -> Duration:
        """``Duration(value)`` for a request or a limit, where zero is refused."""
        duration = cls(value)
        if not duration.seconds:
            raise ValueError(f"invalid duration {value!r}: it must be more than zero; "
                             f"{_DURATION_EXAMPLES}")
        return duration

    @classmethod
    def from_sge(cls, text: str) -> Duration:
        """A Grid Engine time: seconds (``43s``, ``10``, ``0.248``) or ``[[[D:]H:]M:]S``."""
        stripped = text.strip()
        parts = stripped[:-1].split(":") if stripped.endswith("s") else stripped.split(":")
        if not 0 < len(parts) <= 4 or not all(_SGE_NUMBER.fullmatch(p) for p in parts):
            raise ValueError(f"invalid Grid Engine time {text!r}: expected seconds or H:M:S")
        factors = (1, 60, 3600, 86400)
        return cls(sum(float(p) * f for p, f in zip(reversed(parts), factors, strict=False)))

    @property
    def seconds(self) -> float:
        return float(self._seconds)

    @property
    def whole_seconds(self) -> int:
        """Seconds rounded up, for limits."""
        return math.ceil(self.seconds)

    def to_hms(self) -> str:
        """``HH:MM:SS`` with hours unbounded (PBS ``walltime``, SGE ``h_rt``)."""
        total = self.whole_seconds
        return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"

    def to_slurm(self) -> str:
        """``--time`` syntax: ``D-HH:MM:SS`` beyond a day, else ``HH:MM:SS``."""
        days, rest = divmod(self.whole_seconds, 86400)
        hms = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
        return f"{days}-{hms}" if days else hms

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    def __str__(self) -> str:
        if self.seconds != self.whole_seconds:
            return f"{self.seconds:.3f}s"
        total = self.whole_seconds
        for unit, factor in (("d", 86400), ("h", 3600), ("min", 60)):
            if total >= factor and total % factor == 0:
                return f"{total // factor}{unit}"
        return f"{total}s" if total < 3600 else self.to_slurm()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and self.seconds == other.seconds

    def __lt__(self, other: Duration) -> bool:
        if not isinstance(other, Duration):
            return NotImplemented
        return self.seconds < other.seconds

    def __hash__(self) -> int:
        return hash(("Duration", self.seconds))

    def __add__(self, other: Duration) -> Duration:
        if not isinstance(other, Duration):
            return NotImplemented
        return Duration(self.seconds + other.seconds)

    def __mul__(self, factor: int) -> Duration:
        if not isinstance(factor, int) or isinstance(factor, bool):
            return NotImplemented
        return Duration(self.seconds * factor)

    __rmul__ = __mul__


def _parse_duration(text: str) -> float:
    stripped = text.strip()
    clock = _DURATION_CLOCK.match(stripped)
    if clock and (":" in stripped or "-" in stripped or stripped.isdigit()):
        days, first, second, third = clock.groups()
        if any(float(field) >= 60 for field in (second, third) if field is not None):
            raise ValueError(f"invalid duration {text!r}: minutes and seconds after another "
                             f"field must be below 60; {_DURATION_EXAMPLES}")
        if second is None and third is None:
            # "45" is seconds; "2-12" is days-hours (Slurm).
            seconds = float(first) * 3600 if days else float(first)
        elif third is None:
            # "MM:SS", or "D-HH:MM" with a day part (Slurm)
            seconds = float(first) * 3600 + float(second) * 60 if days else (
                float(first) * 60 + float(second))
        else:
            seconds = float(first) * 3600 + float(second) * 60 + float(third)
        return seconds + (float(days) * 86400 if days else 0.0)
    pos, seconds, matched = 0, 0.0, False
    while pos < len(stripped):
        term = _DURATION_TERM.match(stripped, pos)
        if not term or term.group(2).lower() not in _DURATION_UNITS:
            break
        seconds += float(term.group(1)) * _DURATION_UNITS[term.group(2).lower()]
        pos, matched = term.end(), True
    if not matched or pos != len(stripped):
        raise ValueError(f"invalid duration {text!r}: {_DURATION_EXAMPLES}")
    return seconds
