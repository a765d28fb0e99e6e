"""The SQLite job store: schema, refusal of foreign or newer files, claims across processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

import lrms
from lrms.store import SCHEMA_VERSION, JobStore, default_store_path


def new_jobs(count: int, tag: str | None = None) -> list[lrms.Job]:
    jobs = []
    for i in range(count):
        job = lrms.Job(lrms.Application(["echo", str(i)], jobname=f"job{i}"))
        job.tag = tag
        jobs.append(job)
    return jobs


def test_default_path_is_in_the_users_data_directory(isolated_home, monkeypatch, tmp_path):
    expected = isolated_home / ".local" / "share" / "lrms" / "jobs.db"
    assert default_store_path() == str(expected)
    with JobStore() as store:
        assert store.path == str(expected)
    assert expected.exists()
    monkeypatch.setenv("LRMS_STORE", str(tmp_path / "mine.db"))
    assert default_store_path() == str(tmp_path / "mine.db")


def test_store_uses_wal_and_records_its_schema(tmp_path):
    path = tmp_path / "jobs.db"
    JobStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_jobs_round_trip_with_bookkeeping_and_filters(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    first, second = new_jobs(2, tag="sweep")
    third, = new_jobs(1)
    first.output_dir = str(tmp_path / "out")
    store.add([first, second, third])
    first.state = lrms.State.SUBMITTED
    first.resource, first.native_id = "cluster", "42"
    store.save([first])

    again = JobStore(tmp_path / "jobs.db")  # another connection sees the committed change
    got = again.get(first.jobid)
    assert (got.state, got.resource, got.native_id, got.tag, got.output_dir) == (
        lrms.State.SUBMITTED, "cluster", "42", "sweep", str(tmp_path / "out"))
    assert [j.jobid for j in again.jobs(tag="sweep")] == [first.jobid, second.jobid]
    assert [j.jobid for j in again.jobs(states=[lrms.State.NEW])] == [second.jobid, third.jobid]
    assert [j.jobid for j in again.jobs(resource="cluster")] == [first.jobid]
    assert again.counts() == {"SUBMITTED": 1, "NEW": 2}


def test_get_by_unique_ending_and_clear_errors(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, = new_jobs(1)
    store.add([job])
    assert store.get(job.jobid[-6:]).jobid == job.jobid
    with pytest.raises(lrms.UnknownJob, match=r"no job 'nosuchjob' in job store .*jobs\.db.*"
                       r"another store.*--store"):
        store.get("nosuchjob")
    other = JobStore(tmp_path / "other.db")
    with pytest.raises(lrms.UnknownJob, match=r"other\.db"):
        other.get(job.jobid)  # a job id of another store


def test_ambiguous_ending_is_refused(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    jobs = new_jobs(2)
    jobs[0].jobid, jobs[1].jobid = "20260101000000-aaaaaa1234", "20260101000000-bbbbbb1234"
    store.add(jobs)
    with pytest.raises(lrms.UnknownJob, match="ambiguous"):
        store.get("1234")


def test_adding_a_job_twice_is_refused_and_adds_nothing(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    job, other = new_jobs(2)
    store.add([job])
    with pytest.raises(lrms.StoreError, match="already in"):
        store.add([other, job])
    assert [j.jobid for j in store.jobs()] == [job.jobid]  # all or none


@pytest.mark.parametrize("content", [
    b"this is not a database\n" * 100,
    b"SQLite format 3\x00" + b"\xff" * 2000,
])
def test_corrupt_file_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "jobs.db"
    path.write_bytes(content)
    with pytest.raises(lrms.StoreError, match=r"jobs\.db.*left untouched"):
        JobStore(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.db"]


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(lrms.StoreError, match="not an lrms job store"):
        JobStore(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "jobs.db"
    JobStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(lrms.StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade"):
        JobStore(path)
    assert path.read_bytes() == before


def test_replace_chains_attempts_and_hides_the_old_one(tmp_path):
    store = JobStore(tmp_path / "jobs.db")
    old, = new_jobs(1, tag="t")
    store.add([old])
    new = lrms.Job(old.app)
    store.replace(old, new)
    assert [j.jobid for j in store.jobs()] == [new.jobid]
    both = store.jobs(current_only=False)
    assert [(j.jobid, j.attempt, j.retry_of, j.replaced_by) for j in both] == [
        (old.jobid, 1, None, new.jobid), (new.jobid, 2, old.jobid, None)]
    assert store.remove(both) == 2
    assert store.jobs(current_only=False) == []


def test_a_job_is_claimed_once(tmp_path):
    one, two = JobStore(tmp_path / "jobs.db"), JobStore(tmp_path / "jobs.db")
    job, = new_jobs(1)
    one.add([job])
    assert one.claim(job, "cluster")
    assert not two.claim(job, "cluster")
    assert one.stale_claims() == []  # its owner (this process) is alive
    one.save([job], release=True)
    assert two.claim(job, "cluster")


CLAIMER = textwrap.dedent("""
    import sys
    from lrms.store import JobStore
    store = JobStore(sys.argv[1])
    won = [job.jobid for job in store.jobs() if store.claim(job, "r")]
    print("\\n".join(won))
""")


def test_concurrent_processes_never_claim_the_same_job(tmp_path):
    path = tmp_path / "jobs.db"
    store = JobStore(path)
    store.add(new_jobs(60))
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [proc.communicate(timeout=60)[0].split() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    claimed = [jobid for output in outputs for jobid in output]
    assert sorted(claimed) == sorted(job.jobid for job in store.jobs())  # each exactly once
    # the claimers have exited: every claim is now stale, for recovery
    assert len(store.stale_claims()) == 60
