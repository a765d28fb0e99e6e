"""Readers of the output of at's commands (``atq``, ``batch``), as Debian's at 3.2 prints it.

Each raises :class:`ValueError` quoting the text it cannot read.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["AtqEntry", "parse_atq", "parse_submitted"]

RUNNING_QUEUE = "="
_SUBMITTED = re.compile(r"^job (\d+) at ", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class AtqEntry:
    """One line of ``atq``: the job number, its queue letter (``=`` while running), its owner."""

    native_id: str
    queue: str
    user: str

    @property
    def running(self) -> bool:
        return self.queue == RUNNING_QUEUE


def parse_atq(text: str) -> list[AtqEntry]:
    """``atq``: one ``NUMBER<TAB>DATE QUEUE USER`` line per job (root sees every user's)."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        number, tab, rest = line.partition("\t")
        fields = rest.rsplit(None, 2)  # the date has spaces; queue and user have none
        if not tab or not number.strip().isdigit() or len(fields) != 3 or len(fields[1]) != 1:
            raise ValueError(f"unexpected atq line {line!r}")
        entries.append(AtqEntry(number.strip(), fields[1], fields[2]))
    return entries


def parse_submitted(text: str) -> str:
    """The job number in what ``batch`` printed (``job 12 at Sat Nov 21 07:27:00 2026``)."""
    found = _SUBMITTED.search(text)
    if found is None:
        raise ValueError(f"no 'job N at DATE' line in batch's output {text.strip()!r}")
    return found.group(1)
