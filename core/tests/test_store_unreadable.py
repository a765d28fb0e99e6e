"""A job store with one unreadable row, or a damaged file, met by the real ``lrms`` script.

A store is written by the CLI (or the API), then spoilt with the ``sqlite3`` module the way
real damage looks: one row's record replaced (JSON ``null``, cut-off JSON, a value of the
wrong shape, an unknown state, another job's record), or pages in the middle of the file
overwritten.  Every command then runs as a subprocess: the bad row is named on one line with
the store's path and never rewritten, every other job works; a damaged file is refused with
one line saying how to recover it, and its bytes stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import lrms

LRMS = str(Path(sys.executable).parent / "lrms")


def lrms_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LRMS, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k not in ("LRMS_CONFIG", "LRMS_RESOURCE")}
    values["LRMS_STORE"] = str(tmp_path / "jobs.db")
    return values


def rows(store: Path) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(store) as db:
        found = {row[1]: row for row in db.execute("SELECT * FROM jobs ORDER BY seq")}
    db.close()
    return found


def set_data(store: Path, jobid: str, data: str) -> None:
    with sqlite3.connect(store) as db:
        db.execute("UPDATE jobs SET data = ? WHERE jobid = ?", (data, jobid))
    db.close()


def unknown_state(record: str, other: str) -> str:
    data = json.loads(record)
    data["history"][-1][0] = "EXPLODED"
    return json.dumps(data)


SPOILS = {
    "json null": lambda record, other: "null",
    "cut-off JSON": lambda record, other: record[:1],
    "a list": lambda record, other: "[1, 2]",
    "no application": lambda record, other: json.dumps({"jobid": json.loads(record)["jobid"]}),
    "unknown state": unknown_state,
    "another job's record": lambda record, other: other,
}


@pytest.mark.parametrize("spoil", SPOILS.values(), ids=SPOILS.keys())
def test_one_unreadable_row_is_named_skipped_and_never_rewritten(env, tmp_path, spoil):
    store = tmp_path / "jobs.db"
    ids = [lrms_cli(env, tmp_path, "submit", "--tag", "t", "--", "echo", str(n)).stdout.strip()
           for n in range(3)]
    assert lrms_cli(env, tmp_path, "wait").returncode == 0
    first, bad, last = ids
    before = rows(store)
    set_data(store, bad, spoil(before[bad][-1], before[first][-1]))
    spoilt = rows(store)[bad]

    def named_once(done: subprocess.CompletedProcess[str]) -> None:
        assert "Traceback" not in done.stderr
        [line] = [line for line in done.stderr.splitlines() if bad in line]
        assert line.startswith(f"lrms: job {bad} in job store {store} cannot be read")
        assert "left untouched" in line and f"sqlite3 {store} 'DELETE FROM jobs WHERE seq" in line

    status = lrms_cli(env, tmp_path, "status")
    assert status.returncode == 0, status.stderr
    named_once(status)
    assert first in status.stdout and last in status.stdout and bad not in status.stdout
    assert status.stdout.endswith("2 jobs: 2 TERMINATED\n")

    listed = lrms_cli(env, tmp_path, "status", "--json", "--no-refresh")
    assert listed.returncode == 0
    named_once(listed)
    assert [job["jobid"] for job in json.loads(listed.stdout)] == [first, last]

    waited = lrms_cli(env, tmp_path, "wait", "--tag", "t")
    assert waited.returncode == 0, waited.stderr
    named_once(waited)
    assert "2 job(s) terminated, 2 ok" in waited.stderr

    fetched = lrms_cli(env, tmp_path, "fetch", "--tag", "t", "--overwrite")
    assert fetched.returncode == 0, fetched.stderr
    named_once(fetched)
    assert first in fetched.stdout and last in fetched.stdout and bad not in fetched.stdout

    named = lrms_cli(env, tmp_path, "status", bad)
    assert named.returncode == 2
    assert re.match(rf"lrms: (error: )?job {bad} in job store {re.escape(str(store))} "
                    "cannot be read", named.stderr), named.stderr
    assert named.stderr.count("\n") == 1

    submitted = lrms_cli(env, tmp_path, "submit", "--", "true")
    assert submitted.returncode == 0, submitted.stderr
    assert "Traceback" not in submitted.stderr
    assert lrms_cli(env, tmp_path, "wait").returncode == 0

    cleaned = lrms_cli(env, tmp_path, "clean", "--all-terminated")
    assert cleaned.returncode == 0, cleaned.stderr
    named_once(cleaned)
    assert cleaned.stdout == "forgot 3 job(s), their sandboxes deleted\n"

    assert list(rows(store)) == [bad]
    assert rows(store)[bad] == spoilt  # never rewritten, not even its 'updated' stamp


def test_the_store_api_skips_and_reports_an_unreadable_row(tmp_path):
    path = tmp_path / "jobs.db"
    seen: list[str] = []
    store = lrms.JobStore(path, on_unreadable=seen.append)
    jobs = [lrms.Job(lrms.Application(["echo", str(n)])) for n in range(3)]
    store.add(jobs)
    set_data(path, jobs[1].jobid, "{")
    assert [job.jobid for job in store.jobs()] == [jobs[0].jobid, jobs[2].jobid]
    assert [job.jobid for job in store.jobs(states=["NEW"])] == [jobs[0].jobid, jobs[2].jobid]
    assert len(seen) == 1 and seen[0].startswith(f"job {jobs[1].jobid} in job store {path}")
    assert list(store.unreadable) == [jobs[1].jobid]
    with pytest.raises(lrms.StoreError, match=r"cannot be read \(invalid JSON"):
        store.get(jobs[1].jobid)
    assert len(seen) == 1


# -- a damaged file ---------------------------------------------------------------------------


def damage(path: Path) -> None:
    """Overwrite pages from the middle of the file on until SQLite finds it malformed."""
    page = 4096
    pages = path.stat().st_size // page
    for number in range(pages // 2, pages):
        with path.open("r+b") as handle:
            handle.seek(number * page)
            handle.write(b"\xa5" * page)
        db = sqlite3.connect(path)
        try:
            found = db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            found = [(str(exc),)]
        finally:
            db.close()
        if found != [("ok",)]:
            return
    raise AssertionError("the file never looked damaged")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_store_is_refused_with_how_to_recover_and_never_written(env, tmp_path):
    store = tmp_path / "jobs.db"
    assert lrms_cli(env, tmp_path, "submit", "--", "true").returncode == 0
    assert lrms_cli(env, tmp_path, "wait").returncode == 0
    with lrms.JobStore(store) as filler:  # enough jobs to fill many pages
        filler.add([lrms.Job(lrms.Application(["echo", "x" * 200], jobname=f"j{n}"))
                    for n in range(300)])
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    damage(store)
    before = digest(store)
    for command in (["status", "--no-refresh"], ["status"], ["submit", "--", "true"], ["wait"],
                    ["clean", "--all-terminated"]):
        done = lrms_cli(env, tmp_path, *command)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(
            f"lrms: error: job store {store} is damaged (database disk image is malformed"), \
            done.stderr
        assert (f"it was left untouched: recover its jobs with 'sqlite3 {store} .recover | "
                f"sqlite3 {tmp_path / 'jobs-recovered.db'}'") in done.stderr
        assert digest(store) == before, command
