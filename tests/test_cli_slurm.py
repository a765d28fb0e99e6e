"""The ``lrms`` commands against the real single-node Slurm cluster.

A YAML configuration names the slurm backend (partition ``debug``, spool in
the test's folder); every command runs through ``lrms.cli.main`` with the
test's own job store.  Jobs ask for one core and 100 MiB; every job left in
the queue is cancelled at the end.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from lrms.cli import main
from lrms.transport import LocalTransport

pytestmark = pytest.mark.slurm


class Result(NamedTuple):
    code: int
    out: str
    err: str


def slurm_config(path: Path, slurm: dict[str, str], spool: Path) -> str:
    path.write_text(
        "resources:\n  cluster:\n    backend: slurm\n"
        f"    partition: {slurm['LRMS_SLURM_PARTITION']}\n    poll_interval: 0\n"
        f"    spool: {spool}\n"
        "    max_cores: 2\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
        "    max_walltime: 1h\n    architecture: [x86_64]\n    max_gpus_per_job: 2\n")
    return str(path)


def queued_under(spool: Path) -> dict[str, str]:
    """Slurm's jobs (any state it still shows) whose working directory is under ``spool``:
    {lrms job id: Slurm job id}."""
    listing = subprocess.run(["squeue", "--me", "--states=all", "--noheader", "--format=%i|%Z"],
                             capture_output=True, text=True, check=True).stdout
    found = {}
    for line in listing.splitlines():
        native, _, workdir = line.partition("|")
        if workdir.startswith(f"{spool}/jobs/"):
            found[Path(workdir).name] = native.strip()
    return found


@pytest.fixture
def cli(slurm, tmp_path, monkeypatch, capsys) -> Iterator:
    """``cli(*args)``: ``lrms --config <slurm config> args`` in this process, own store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LRMS_STORE", str(tmp_path / "jobs.db"))
    spool = tmp_path / "spool"
    config = slurm_config(tmp_path / "site.yaml", slurm, spool)

    def call(*args: str) -> Result:
        capsys.readouterr()
        code = main(["--config", config, *args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    call.spool = spool  # type: ignore[attr-defined]
    try:
        yield call
    finally:
        left = list(queued_under(spool).values())
        if left:
            subprocess.run(["scancel", *left], check=False)


def jobs_of(cli) -> dict[str, dict]:
    done = cli("status", "--no-refresh", "--all", "--json")
    assert done.code == 0, done.err
    return {job["jobid"]: job for job in json.loads(done.out)}


def test_submit_wait_status_peek_fetch_resubmit_clean(cli, tmp_path):
    small = ("--memory", "100MiB", "--tag", "s")
    ok = cli("submit", *small, "--", "sh", "-c", "echo hello; echo note >&2")
    bad = cli("submit", *small, "--name", "three", "--", "sh", "-c", "echo failing; exit 3")
    assert ok.code == bad.code == 0, ok.err + bad.err
    ok, bad = ok.out.strip(), bad.out.strip()

    waited = cli("wait", "--tag", "s", "--interval", "0.5")
    assert waited.code == 1, waited.err
    assert f"job {bad} (three) ended: exit 3" in waited.err
    jobs = jobs_of(cli)
    accepted = queued_under(cli.spool)
    for job in (ok, bad):
        assert jobs[job]["resource"] == "cluster"
        assert jobs[job]["native_id"] == accepted[job]  # the id Slurm shows for its sandbox
    assert (jobs[ok]["returncode"], jobs[bad]["returncode"]) == (0, 3)
    assert (tmp_path / "lrms-output" / ok / "stdout").read_text() == "hello\n"
    assert (tmp_path / "lrms-output" / ok / "stderr").read_text() == "note\n"

    table = cli("status", "--no-refresh", "--tag", "s")
    rows = {line.split()[0]: line.split() for line in table.out.splitlines()[1:-1]}
    assert rows[ok][2:6] == ["TERMINATED", "cluster", accepted[ok], "0"]
    assert rows[bad][5] == "3"
    assert cli("peek", bad) == (0, "failing\n", "")
    assert cli("peek", ok, "stderr").out == "note\n"

    again = cli("resubmit", "--failed")
    assert again.code == 0, again.err
    new = again.out.split()[2]
    assert cli("wait", new, "--interval", "0.5").code == 1
    jobs = jobs_of(cli)
    assert jobs[new]["retry_of"] == bad and jobs[new]["native_id"] != jobs[bad]["native_id"]

    cleaned = cli("clean", "--all-terminated")
    assert cleaned == (0, "forgot 3 job(s), their sandboxes deleted\n", "")
    assert not list((cli.spool / "jobs").iterdir())
    assert (tmp_path / "lrms-output" / ok / "stdout").exists()


def test_cancel_run_and_resources(cli):
    sleeper = cli("submit", "--memory", "100MiB", "--", "sleep", "300").out.strip()
    status = cli("status", sleeper, "--json")
    [job] = json.loads(status.out)
    assert job["state"] in ("SUBMITTED", "RUNNING") and job["native_id"]
    assert queued_under(cli.spool)[sleeper] == job["native_id"]

    resources = cli("resources")
    assert resources.code == 0, resources.err
    _, row = resources.out.splitlines()
    cells = row.split()
    assert cells[:3] == ["cluster", "slurm", "localhost"]
    free, total = cells[7].split("/")
    assert int(total) >= 1 and 0 <= int(free) <= int(total)
    assert cells[9].split("/") in (["1", "0"], ["0", "1"])  # our sleeper, running or queued

    cancelled = cli("cancel", sleeper)
    assert cancelled.code == 0 and cancelled.out.split() == [sleeper, "TERMINATING"]
    assert cli("wait", sleeper, "--interval", "0.5").code == 1
    [job] = json.loads(cli("status", "--no-refresh", "--json").out)
    assert job["termination_reason"] == "cancelled"

    ran = cli("run", "--memory", "100MiB", "--", "echo", "$(hostname)", "a  b")
    assert ran == (0, "$(hostname) a  b\n", "")


def scontrol(native_id: str) -> str:
    return subprocess.run(["scontrol", "--oneliner", "show", "job", native_id], check=True,
                          capture_output=True, text=True).stdout


def test_after_ok_on_a_failing_job_is_native_and_ends_dependency_failed(cli, tmp_path):
    """B waits in Slurm (--dependency=afterok) for A; A fails: B ends dependency_failed and
    is cancelled on the cluster; C (:any) runs once A ended."""
    go = tmp_path / "go"
    first = cli("submit", "--memory", "100MiB", "--", "sh", "-c",
                f"while [ ! -e {go} ]; do sleep 0.2; done; exit 3").out.strip()
    then = cli("submit", "--memory", "100MiB", "--after", first, "--", "true")
    anyway = cli("submit", "--memory", "100MiB", "--after", f"{first}:any", "--", "true")
    assert then.code == anyway.code == 0, then.err + anyway.err
    then, anyway = then.out.strip(), anyway.out.strip()
    jobs = jobs_of(cli)
    native = jobs[first]["native_id"]
    assert f"Dependency=afterok:{native}(unfulfilled)" in scontrol(jobs[then]["native_id"])
    assert f"Dependency=afterany:{native}(unfulfilled)" in scontrol(jobs[anyway]["native_id"])
    go.touch()
    assert cli("wait", first, then, anyway, "--interval", "0.5").code == 1
    jobs = jobs_of(cli)
    assert jobs[then]["termination_reason"] == "dependency_failed"
    assert first in (jobs[then]["status_message"] or "")
    assert "JobState=CANCELLED" in scontrol(jobs[then]["native_id"])
    assert (jobs[first]["returncode"], jobs[anyway]["returncode"]) == (3, 0)


def test_hold_gpus_account_and_release(cli, slurm):
    held = cli("submit", "--memory", "100MiB", "--hold", "--gpus", "1", "--account",
               slurm["LRMS_SLURM_ACCOUNT"], "--", "sh", "-c", 'echo "GPUs $SLURM_GPUS_ON_NODE"')
    assert held.code == 0, held.err
    job = held.out.strip()
    [shown] = json.loads(cli("status", job, "--json").out)
    assert shown["state"] == "STOPPED"
    line = scontrol(shown["native_id"])
    assert "Priority=0 " in line and "Account=lrms-test " in line and "gres:gpu:1" in line
    released = cli("release", job)
    assert released.code == 0, released.err
    assert cli("wait", job, "--interval", "0.5").code == 0
    assert cli("peek", job).out == "GPUs 1\n"


def test_begin_offset_reaches_slurm(cli):
    before = time.time()
    done = cli("submit", "--memory", "100MiB", "--begin", "+2h", "--", "true")
    assert done.code == 0, done.err
    [job] = json.loads(cli("status", done.out.strip(), "--json").out)
    assert job["state"] == "SUBMITTED"
    eligible = re.search(r"EligibleTime=(\S+)", scontrol(job["native_id"]))
    assert eligible is not None
    start = datetime.datetime.fromisoformat(eligible.group(1)).timestamp()
    assert before + 7200 - 1 <= start <= time.time() + 7200 + 1


def test_a_sweep_is_one_array_and_its_cancel_one_scancel(cli, tmp_path, monkeypatch):
    """lrms submit --params: three jobs with the same requests are one Slurm array (one
    sbatch, --max-in-flight its throttle), each task a job of its own (id A_I, ARRAY
    column, outcome, output folder); lrms cancel --tag cancels a held sweep with one
    scancel; --no-array submits one sbatch per job."""
    commands: list[list[str]] = []
    real_run = LocalTransport.run

    def recording_run(self, argv, **kwargs):
        commands.append(list(argv))
        return real_run(self, argv, **kwargs)

    monkeypatch.setattr(LocalTransport, "run", recording_run)
    codes = tmp_path / "codes.txt"
    codes.write_text("0\n3\n5\n")
    done = cli("submit", "--params", str(codes), "--tag", "sweep", "--memory", "100MiB",
               "--max-in-flight", "2", "--", "sh", "-c", 'echo "task $LRMS_TASK_INDEX"; exit {1}')
    assert done.code == 0, done.err
    ids = done.out.split()
    [sbatch] = [argv for argv in commands if argv[0] == "sbatch"]
    assert "--array=0-2%2" in sbatch
    jobs = jobs_of(cli)
    array = jobs[ids[0]]["array"]
    assert [jobs[job]["native_id"] for job in ids] == [f"{array}_{n}" for n in range(3)]
    assert cli("wait", "--tag", "sweep", "--interval", "0.5").code == 1
    jobs = jobs_of(cli)
    assert [jobs[job]["returncode"] for job in ids] == [0, 3, 5]
    assert (tmp_path / "lrms-output" / ids[2] / "stdout").read_text() == "task 2\n"
    table = cli("status", "--no-refresh", "--tag", "sweep").out.splitlines()
    assert "ARRAY" in table[0].split()
    assert all(array in line.split() for line in table[1:4])

    held = cli("submit", "--params", str(codes), "--tag", "held", "--hold", "--memory",
               "100MiB", "--", "true")
    assert held.code == 0, held.err
    commands.clear()
    assert cli("cancel", "--tag", "held").code == 0
    scancels = [argv for argv in commands if argv[0] == "scancel"]
    held_array = jobs_of(cli)[held.out.split()[0]]["array"]
    assert scancels == [["scancel", held_array]]
    assert cli("wait", "--tag", "held", "--interval", "0.5").code == 1
    assert {job["termination_reason"] for job in jobs_of(cli).values()
            if job["array"] == held_array} == {"cancelled"}

    commands.clear()
    single = cli("submit", "--params", str(codes), "--no-array", "--memory", "100MiB", "--",
                 "true")
    assert single.code == 0, single.err
    assert len([argv for argv in commands if argv[0] == "sbatch"]) == 3
    assert all("_" not in jobs_of(cli)[job]["native_id"] for job in single.out.split())
