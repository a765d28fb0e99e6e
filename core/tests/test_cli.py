"""The ``lrms`` commands on the built-in localhost shellcmd resource, through ``lrms.cli.main``.

Each test has its own job store, working directory and home (so its own
spool, ``~/.lrms/localhost``); jobs are real processes on this machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def stored(cli) -> dict[str, dict]:
    """The store's current jobs as ``status --json`` shows them, by id (no refresh)."""
    result = cli("status", "--no-refresh", "--all", "--json")
    assert result.code == 0, result.err
    return {job["jobid"]: job for job in json.loads(result.out)}


def submit(cli, *args: str) -> str:
    result = cli("submit", *args)
    assert result.code == 0, result.err
    return result.out.strip()


def sandbox(isolated_home: Path, jobid: str) -> Path:
    return isolated_home / ".lrms" / "localhost" / "jobs" / jobid


# -- run ------------------------------------------------------------------------------------


def test_run_prints_the_streams_and_exits_with_the_return_code(cli):
    done = cli("run", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done == (3, "out\n", "err\n")
    [job] = stored(cli).values()
    assert job["state"] == "TERMINATED" and job["returncode"] == 3 and job["failed"]
    assert job["native_id"] and job["resource"] == "localhost"
    assert job["sandbox"] is None  # freed


def test_run_passes_arguments_literally_and_reports_a_signal(cli):
    done = cli("run", "--", "echo", "$(id)", "; rm -rf ~", "*")
    assert (done.code, done.out) == (0, "$(id) ; rm -rf ~ *\n")
    killed = cli("run", "--name", "killer", "--", "sh", "-c", "kill -9 $$")
    assert killed.code == 137
    assert "ended: signalled" in killed.err


def test_run_keeps_existing_outputs_unless_overwrite(cli, tmp_path, isolated_home):
    (tmp_path / "result.txt").write_text("old\n")
    make = ["--output", "result.txt", "--", "sh", "-c", "echo new > result.txt"]
    kept = cli("run", "--keep", *make)
    assert kept.code == 0, kept.err
    assert (tmp_path / "result.txt").read_text() == "old\n"
    assert "kept existing ./result.txt (use --overwrite to replace it)" in kept.err
    [job] = stored(cli).values()
    assert sandbox(isolated_home, job["jobid"]).is_dir()  # --keep
    assert f"sandbox of job {job['jobid']} kept at localhost:" in kept.err

    replaced = cli("run", "--overwrite", *make)
    assert replaced.code == 0, replaced.err
    assert (tmp_path / "result.txt").read_text() == "new\n"
    assert "kept existing" not in replaced.err


@pytest.mark.parametrize(("args", "message"), [
    ([], "run needs a command after '--'"),
    (["--env", "NOVALUE", "--", "true"], "--env needs NAME=VALUE, got 'NOVALUE'"),
    (["--input", "missing.txt", "--", "true"], "missing.txt does not exist"),
    (["--cores", "99", "--", "true"], "99 cores requested, max_cores_per_job is"),
    (["--output-dir", "nowhere", "--", "true"], "--output-dir nowhere does not exist"),
    (["--output", "../up", "--", "true"], "escapes the job's sandbox"),
    (["--resource", "nosuch", "--", "true"], "no resource named 'nosuch'"),
    (["--memory", "4 GBs", "--", "true"], "4 GBs"),
])
def test_run_refuses_bad_requests_before_recording_a_job(cli, args, message):
    done = cli("run", *args)
    assert done.code == 2
    assert done.err.startswith("lrms: error: ") and message in done.err, done.err
    assert "Traceback" not in done.err
    assert stored(cli) == {}


# -- submit, wait, status ---------------------------------------------------------------------


def test_submit_then_wait_fetches_outputs_and_reports_failures(cli, tmp_path):
    good = submit(cli, "--tag", "t", "--", "sh", "-c", "echo one")
    bad = submit(cli, "--tag", "t", "--name", "bad", "--", "sh", "-c", "echo two >&2; exit 4")
    assert len(good.split()) == len(bad.split()) == 1  # one id each, nothing else

    waited = cli("wait", "--tag", "t")
    assert waited.code == 1
    assert f"job {bad} (bad) ended: exit 4\n" in waited.err
    assert f"{good}  sh  TERMINATED (exit 0)\n" in waited.err  # a line per change, no terminal
    assert "2 job(s) terminated, 1 ok, 1 not" in waited.err

    assert (tmp_path / "lrms-output" / good / "stdout").read_text() == "one\n"
    assert (tmp_path / "lrms-output" / bad / "stderr").read_text() == "two\n"

    table = cli("status", "--no-refresh")
    assert table.code == 0
    header, *rows, summary = table.out.splitlines()
    assert header.split() == ["JOBID", "NAME", "STATE", "RESOURCE", "NATIVE", "ID", "EXIT",
                              "RUNTIME", "TAG"]
    cells = {row.split()[0]: row.split() for row in rows}
    assert cells[good][1:4] == ["sh", "TERMINATED", "localhost"]
    assert cells[good][5] == "0" and cells[bad][5] == "4" and cells[bad][1] == "bad"
    assert cells[good][-1] == "t"
    assert summary == "2 jobs: 2 TERMINATED (1 failed or cancelled)"

    jobs = stored(cli)
    assert jobs[bad]["returncode"] == 4 and jobs[bad]["failed"] is True
    assert jobs[good]["failed"] is False and jobs[good]["fetched"] is not None
    assert jobs[good]["app"]["outputs"] == ["stdout", "stderr"]
    assert jobs[good]["runtime"] is not None
    assert cli("wait", good).code == 0  # already terminated: ok at once


def test_submit_json_output_dir_and_max_in_flight(cli, tmp_path):
    done = cli("submit", "--json", "--output-dir", "results", "--max-in-flight", "1",
               "--params", _write(tmp_path / "p.txt", "a\nb\n"), "--", "echo")
    assert done.code == 0, done.err
    first, second = json.loads(done.out)
    assert first["output_dir"] == str(tmp_path / "results" / first["jobid"])
    assert first["state"] == "SUBMITTED" and second["state"] == "NEW"
    assert "1 of 2 job(s) wait to be submitted" in done.err
    assert cli("wait").code == 0
    assert (tmp_path / "results" / second["jobid"] / "stdout").read_text() == "b\n"


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_status_filters(cli):
    a1 = submit(cli, "--tag", "a", "--", "true")
    a2 = submit(cli, "--tag", "a", "--", "false")
    b1 = submit(cli, "--tag", "b", "--", "true")
    assert cli("wait", a1, a2, b1).code == 1

    def ids(*args: str) -> list[str]:
        done = cli("status", "--no-refresh", "--json", *args)
        assert done.code == 0, done.err
        return [job["jobid"] for job in json.loads(done.out)]

    assert ids() == [a1, a2, b1]
    assert ids("--tag", "a") == [a1, a2]
    assert ids("--state", "failed") == [a2]
    assert ids("--state", "Terminated,new") == [a1, a2, b1]
    assert ids("--state", "running") == []
    assert ids("--resource", "localhost", "--tag", "b") == [b1]
    assert ids("--resource", "elsewhere") == []
    assert ids(b1[-8:]) == [b1]  # a unique ending of an id
    assert ids(a1, b1, "--tag", "a") == [a1]
    bad = cli("status", "--state", "bogus")
    assert bad.code == 2 and "--state BOGUS: unknown state" in bad.err
    refreshed = cli("status")  # a round, then the table
    assert refreshed.code == 0 and refreshed.out.endswith(
        "3 jobs: 3 TERMINATED (1 failed or cancelled)\n")


def test_status_watch_off_a_terminal_prints_each_round(cli):
    job = submit(cli, "--", "sleep", "0.5")
    done = cli("status", "--watch", "0.2", job)
    assert done.code == 0
    rounds = done.out.count("JOBID")
    assert rounds >= 2  # at least one round while it slept, one after
    assert done.out.endswith("1 job: 1 TERMINATED\n")


def test_resubmit_failed_jobs_as_new_attempts(cli):
    ok = submit(cli, "--", "true")
    bad = submit(cli, "--tag", "r", "--", "sh", "-c", "exit 2")
    assert cli("wait", ok, bad).code == 1
    again = cli("resubmit", "--failed")
    assert again.code == 0, again.err
    old, arrow, new, _state = again.out.split()
    assert (old, arrow) == (bad, "->") and new != bad
    jobs = stored(cli)
    assert jobs[bad]["replaced_by"] == new and jobs[new]["retry_of"] == bad
    assert jobs[new]["attempt"] == 2 and jobs[new]["tag"] == "r"
    current = json.loads(cli("status", "--no-refresh", "--json").out)
    assert [job["jobid"] for job in current] == [ok, new]  # the old attempt is hidden

    twice = cli("resubmit", bad)
    assert twice.code == 2 and f"already resubmitted as {new}" in twice.err
    assert cli("resubmit").code == 2
    assert cli("wait", new).code == 1
    assert cli("resubmit", "--json", ok).code == 0


def test_cancel_running_and_waiting_jobs(cli, tmp_path):
    ids = [submit(cli, "--tag", "c", "--", "sleep", "30") for _ in range(3)]
    jobs = stored(cli)
    assert [jobs[i]["state"] != "NEW" for i in ids] == [True, True, False]  # 2 cores

    assert cli("cancel").code == 2  # nothing named
    done = cli("cancel", "--all-active")
    assert done.code == 0, done.err
    assert sorted(line.split()[0] for line in done.out.splitlines()) == sorted(ids)
    assert cli("wait", "--tag", "c").code == 1  # cancelled is not ok
    jobs = stored(cli)
    assert {jobs[i]["termination_reason"] for i in ids} == {"cancelled"}
    assert jobs[ids[2]]["native_id"] is None  # never submitted
    again = cli("cancel", ids[0])
    assert again.code == 0 and "has already terminated" in again.err
    never = cli("fetch", ids[2])
    assert never.code == 2 and "was never submitted" in never.err
    rows = cli("status", "--no-refresh").out.splitlines()[1:-1]
    assert [row.split()[6] for row in rows] == ["cancelled"] * 3, rows


# -- files of a job ----------------------------------------------------------------------------


def test_peek_parts_of_sandbox_files(cli):
    job = submit(cli, "--", "sh", "-c", "echo line1; echo line2; echo err >&2")
    assert cli("wait", job).code == 0
    assert cli("peek", job) == (0, "line1\nline2\n", "")
    assert cli("peek", job, "stderr").out == "err\n"
    assert cli("peek", job, "--offset", "-6").out == "line2\n"
    assert cli("peek", job, "--offset", "2", "--size", "3").out == "ne1"
    missing = cli("peek", job, "nosuch")
    assert missing.code == 2 and "has no file 'nosuch'" in missing.err
    escape = cli("peek", job, "../x")
    assert escape.code == 2 and "escapes" in escape.err
    assert cli("free", job).code == 0
    freed = cli("peek", job)
    assert freed.code == 2 and "sandbox was freed" in freed.err


def test_peek_follow_prints_until_the_job_ends(cli):
    job = submit(cli, "--", "sh", "-c", "for i in 1 2 3 4; do echo $i; sleep 0.2; done")
    done = cli("peek", "--follow", "--interval", "0.1", job)
    assert done == (0, "1\n2\n3\n4\n", "")
    assert stored(cli)[job]["state"] == "TERMINATED"
    tail = cli("peek", "--follow", "--offset", "-2", job)
    assert tail == (0, "4\n", "")


def test_fetch_overwrite_changed_only_and_dir(cli, tmp_path):
    script = "echo v1 > out.txt; mkdir sub; echo deep > sub/f"
    job = submit(cli, "--output", "out.txt", "--output", "sub", "--", "sh", "-c", script)
    other = submit(cli, "--", "echo", "other")
    assert cli("wait").code == 0
    folder = tmp_path / "lrms-output" / job
    assert (folder / "out.txt").read_text() == "v1\n"  # fetched when it ended
    assert (folder / "sub" / "f").read_text() == "deep\n"

    same = cli("fetch", job)
    assert same.code == 0 and "nothing new" in same.out
    (folder / "out.txt").write_text("edited locally\n")
    assert cli("fetch", job).code == 0
    assert (folder / "out.txt").read_text() == "edited locally\n"
    restored = cli("fetch", "--overwrite", job)
    assert restored.out.splitlines() == [str(folder / "out.txt")]
    assert (folder / "out.txt").read_text() == "v1\n"
    (folder / "out.txt").write_text("v2\n")  # same size, newer: changed-only keeps it
    cli("fetch", "--overwrite", job)
    assert (folder / "out.txt").read_text() == "v2\n"
    cli("fetch", "--overwrite", "--all-files", job)
    assert (folder / "out.txt").read_text() == "v1\n"

    one = cli("fetch", job, "--dir", "mine")
    assert sorted(os.listdir(tmp_path / "mine")) == ["out.txt", "stderr", "stdout", "sub"]
    assert one.code == 0
    two = cli("fetch", "--json", job, other, "--dir", "both")
    written = {entry["jobid"]: entry["written"] for entry in json.loads(two.out)}
    assert str(tmp_path / "both" / other / "stdout") in written[other]
    assert (tmp_path / "both" / other / "stdout").read_text() == "other\n"


def test_free_and_clean(cli, tmp_path, isolated_home):
    running = submit(cli, "--tag", "k", "--", "sleep", "30")
    busy = cli("free", running)
    assert busy.code == 2 and "only a TERMINATED job can be freed" in busy.err
    assert cli("clean", running).code == 2
    cli("cancel", running)
    first = submit(cli, "--tag", "k", "--", "sh", "-c", "exit 1")
    assert cli("wait", "--tag", "k").code == 1
    second = cli("resubmit", first).out.split()[2]
    assert cli("wait", second).code == 1

    assert cli("free", running) == (0, f"{running}: freed\n", "")
    assert not sandbox(isolated_home, running).exists()
    assert cli("free", running).out == f"{running}: nothing to free\n"

    kept = cli("clean", "--no-free", running)
    assert kept.code == 0 and kept.out == "forgot 1 job(s)\n"
    cleaned = cli("clean", second)  # with its earlier attempt
    assert cleaned.code == 0 and cleaned.out == "forgot 2 job(s), their sandboxes deleted\n"
    assert not sandbox(isolated_home, first).exists()
    assert not sandbox(isolated_home, second).exists()
    assert stored(cli) == {}
    # fetched outputs stay
    assert (tmp_path / "lrms-output" / first / "stdout").exists()
    assert (tmp_path / "lrms-output" / running / "stdout").exists()

    leftover = submit(cli, "--tag", "z", "--", "true")
    assert cli("clean").code == 2
    cli("wait")
    assert cli("clean", "--all-terminated", "--json") == (0, json.dumps([leftover]) + "\n", "")
    assert not sandbox(isolated_home, leftover).exists()


def test_wait_retries_failed_jobs_and_follows_the_last_attempt(cli):
    flaky = submit(cli, "--", "sh", "-c", "exit 5")
    waited = cli("wait", "--retries", "2", "--json", flaky)
    assert waited.code == 1
    last, = json.loads(waited.out)
    assert (last["attempt"], last["returncode"]) == (3, 5)
    attempts = sorted(stored(cli).values(), key=lambda job: job["attempt"])
    assert [job["attempt"] for job in attempts] == [1, 2, 3]
    assert attempts[0]["jobid"] == flaky and attempts[1]["retry_of"] == flaky


def test_clean_force_leaves_a_sandbox_it_cannot_delete_and_names_it(cli, tmp_path):
    limits = ("    max_cores: 1\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
              "    max_walltime: 1h\n    architecture: [x86_64]\n")
    site = tmp_path / "site.yaml"
    site.write_text(f"resources:\n  gone:\n    backend: shellcmd\n    spool: {tmp_path}/s\n"
                    + limits)
    job = cli("--config", str(site), "submit", "--", "echo", "hi").out.strip()
    assert cli("--config", str(site), "wait", job).code == 0
    sandbox = stored(cli)[job]["sandbox"]
    site.write_text("resources:\n  other:\n    backend: shellcmd\n" + limits)
    forced = cli("--config", str(site), "clean", "--force", job)
    assert forced.code == 0, forced.err
    assert forced.err.startswith(f"lrms: job {job} is forgotten; its sandbox gone:{sandbox} "
                                 "is left: ")
    assert forced.err.endswith(": no resource named 'gone' (configured: other)\n")
    assert forced.out == "forgot 1 job(s)\n"
    assert Path(sandbox, "stdout").read_text() == "hi\n"
    assert stored(cli) == {}
