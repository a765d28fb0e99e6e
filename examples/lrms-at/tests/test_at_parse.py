"""The readers of at's output, fed what Debian's at 3.2.5 printed (tests/data).

atq-root.txt: ``atq`` as root (every user's jobs): two running (queue ``=``),
two waiting batch jobs (``b``, atd stopped), two at jobs (``a``, ``c``, one
with a space-padded day).  atq-user.txt: the same queue as user lrmstest.
batch-stderr.txt: what ``batch`` printed on stderr for a job.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lrms_at.parse import AtqEntry, parse_atq, parse_submitted

DATA = Path(__file__).parent / "data"


def test_atq_as_root_lists_every_users_jobs_with_queue_and_owner():
    entries = parse_atq((DATA / "atq-root.txt").read_text())
    assert entries == [
        AtqEntry("25", "=", "root"),
        AtqEntry("27", "b", "root"),
        AtqEntry("28", "b", "lrmstest"),
        AtqEntry("26", "=", "lrmstest"),
        AtqEntry("29", "a", "lrmstest"),
        AtqEntry("30", "c", "root"),
    ]
    assert [entry.native_id for entry in entries if entry.running] == ["25", "26"]


def test_atq_as_a_user_lists_only_their_jobs():
    entries = parse_atq((DATA / "atq-user.txt").read_text())
    assert [(e.native_id, e.running, e.user) for e in entries] == [
        ("28", False, "lrmstest"), ("26", True, "lrmstest"), ("29", False, "lrmstest")]


def test_empty_atq_is_no_jobs():
    assert parse_atq("") == []


@pytest.mark.parametrize("line", [
    "Cannot open /var/spool/cron/atjobs",
    "x1\tSat Nov 21 07:29:00 2026 = root",
    "25\tSat Nov 21 07:29:00 2026 root",
])
def test_unexpected_atq_output_is_an_error_quoting_the_line(line):
    with pytest.raises(ValueError, match="unexpected atq line") as error:
        parse_atq(line + "\n")
    assert repr(line) in str(error.value)


def test_batch_output_gives_the_job_number():
    assert parse_submitted((DATA / "batch-stderr.txt").read_text()) == "12"


def test_batch_output_without_a_job_line_is_an_error_quoting_it():
    refusal = "You do not have permission to use at."
    with pytest.raises(ValueError, match="no 'job N at DATE' line") as error:
        parse_submitted(refusal + "\n")
    assert refusal in str(error.value)
