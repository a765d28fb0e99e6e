"""``lrms`` when things go wrong: Ctrl-C, ``kill -9`` in the middle of submitting to Slurm,
a full disk while fetching, and job stores it must not touch.

Every command runs as the installed ``lrms`` script in a subprocess, with the
test's own job store (``LRMS_STORE``) and working directory.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lrms

LRMS = str(Path(sys.executable).parent / "lrms")


@pytest.fixture
def env(tmp_path):
    values = {k: v for k, v in os.environ.items() if not k.startswith("LRMS_")}
    values["LRMS_NO_AGENT"] = "1"  # the commands run their own rounds
    values.update(LRMS_STORE=str(tmp_path / "jobs.db"), HOME=str(tmp_path / "home"),
                  XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    return values


def lrms_cli(env, cwd, *args, check=True):
    done = subprocess.run([LRMS, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def stored(env, cwd, *args) -> list[dict]:
    return json.loads(lrms_cli(env, cwd, "status", "--json", *args).stdout)


def until(condition, timeout=60.0, pause=0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting after {timeout} s"
        time.sleep(pause)
    return value


def ctrl_c(proc: subprocess.Popen) -> tuple[str, str]:
    """What a terminal's Ctrl-C does: SIGINT to the foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=60)


# -- Ctrl-C ------------------------------------------------------------------------------


def test_ctrl_c_in_wait_leaves_the_job_running(env, tmp_path):
    job = lrms_cli(env, tmp_path, "submit", "--", "sh", "-c", "sleep 2; echo done").stdout.strip()
    proc = subprocess.Popen([LRMS, "wait", job], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert job in proc.stderr.readline()  # its first round is done: it is waiting
    _, err = ctrl_c(proc)
    assert proc.returncode == 130
    assert "job(s) keep running on their resources; reattach with" in err
    assert f"  lrms wait {job}\n" in err and f"  lrms status {job}" in err
    assert "Traceback" not in err
    [now] = stored(env, tmp_path, job)  # refreshed: still running
    assert now["state"] == "RUNNING"
    finished = lrms_cli(env, tmp_path, "wait", job)
    assert "1 job(s) terminated, 1 ok, 0 not" in finished.stderr
    assert (tmp_path / "lrms-output" / job / "stdout").read_text() == "done\n"


def test_ctrl_c_in_run_leaves_the_job_running(env, tmp_path):
    proc = subprocess.Popen([LRMS, "run", "--", "sh", "-c", "sleep 2; echo finished"], env=env,
                            cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)

    def submitted() -> list[dict]:
        assert proc.poll() is None, f"lrms run ended early: {proc.communicate()}"
        return [j for j in stored(env, tmp_path, "--no-refresh") if j["native_id"]]

    try:
        [job] = until(submitted)
    except AssertionError as failed:
        if proc.poll() is None:  # still running but nothing submitted: show what it says
            proc.kill()
            raise AssertionError(f"{failed}; lrms run said {proc.communicate()}") from None
        raise
    out, err = ctrl_c(proc)
    assert proc.returncode == 130 and out == ""
    for command in ("wait", "fetch", "peek"):
        assert f"  lrms {command} {job['jobid']}\n" in err, err
    [now] = stored(env, tmp_path)
    assert now["state"] == "RUNNING" and now["sandbox"]
    assert lrms_cli(env, tmp_path, "wait", job["jobid"]).returncode == 0
    assert lrms_cli(env, tmp_path, "peek", job["jobid"]).stdout == "finished\n"


# -- kill -9 while submitting to Slurm ------------------------------------------------------------


def slurm_jobs(spool: Path) -> list[tuple[str, str]]:
    """(lrms job id, Slurm job id) of every Slurm job whose working directory is under spool."""
    listing = subprocess.run(["squeue", "--me", "--states=all", "--noheader", "--format=%i|%Z"],
                             capture_output=True, text=True, check=True).stdout
    found = []
    for line in listing.splitlines():
        native, _, workdir = line.partition("|")
        if workdir.startswith(f"{spool}/jobs/"):
            found.append((Path(workdir).name, native.strip()))
    return found


def sbatch_running(spool: Path) -> bool:
    """True while an sbatch started for a job under ``spool`` is still running."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(word.endswith(b"sbatch") for word in argv[:2]) and any(
                str(spool).encode() in a for a in argv):  # (argv[1]: a script run by sh)
            return True
    return False


def slurm_site(tmp_path, slurm, extra: str = "") -> str:
    """A configuration with one Slurm resource ``cluster`` (spool ``tmp_path/spool``, asked
    in every round) plus ``extra`` lines of its section; its path."""
    config = tmp_path / "site.yaml"
    config.write_text(
        "resources:\n  cluster:\n    backend: slurm\n" + extra
        + f"    partition: {slurm['LRMS_SLURM_PARTITION']}\n    poll_interval: 0\n"
        f"    spool: {tmp_path / 'spool'}\n"
        "    max_cores: 2\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
        "    max_walltime: 1h\n    architecture: [x86_64]\n")
    return str(config)


@pytest.mark.slurm
def test_kill_9_while_submitting_loses_and_duplicates_no_job(slurm, env, tmp_path):
    spool = tmp_path / "spool"
    env = {**env, "LRMS_CONFIG": slurm_site(tmp_path, slurm)}
    (tmp_path / "seeds.txt").write_text("".join(f"{n}\n" for n in range(50)))
    proc = subprocess.Popen(
        [LRMS, "submit", "--no-array", "--memory", "100MiB", "--params", "seeds.txt", "--",
         "sh", "-c", "sleep 300", "sh", "{1}"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = until(lambda: len(slurm_jobs(spool)) >= 3 or proc.poll() is not None, pause=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert seen and proc.returncode == -signal.SIGKILL, (
            proc.stderr.read() if proc.stderr else "")
        before = dict(slurm_jobs(spool))
        assert 3 <= len(before) < 50  # killed in the middle
        until(lambda: not sbatch_running(spool))  # an orphaned sbatch may still be submitting

        jobs = stored(env, tmp_path)  # one round: recovers, then submits the rest
        accepted = slurm_jobs(spool)
        per_job = collections.Counter(jobid for jobid, _ in accepted)
        assert len(jobs) == 50
        assert all(count == 1 for count in per_job.values()), per_job  # none submitted twice
        native = dict(accepted)
        assert set(native) == {job["jobid"] for job in jobs}  # none lost
        for job in jobs:
            assert job["native_id"] == native[job["jobid"]], job
            assert job["state"] in ("SUBMITTED", "RUNNING")
        for jobid, slurm_id in before.items():
            assert native[jobid] == slurm_id  # the ones accepted before the kill were kept
    finally:
        left = [slurm_id for _, slurm_id in slurm_jobs(spool)] + list(slurm_arrays(spool))
        if left:
            subprocess.run(["scancel", *left], check=False)


def slurm_arrays(spool: Path) -> dict[str, str]:
    """{Slurm array id: its working directory} of every array working under spool/arrays."""
    listing = subprocess.run(["squeue", "--me", "--states=all", "--noheader", "--format=%F|%Z"],
                             capture_output=True, text=True, check=True).stdout
    return {native.strip(): workdir for native, _, workdir in
            (line.partition("|") for line in listing.splitlines())
            if workdir.startswith(f"{spool}/arrays/")}


@pytest.mark.slurm
def test_kill_9_while_submitting_arrays_duplicates_no_array(slurm, env, tmp_path):
    """1,200 held tasks are three arrays (MaxArraySize 500); each sbatch waits a second
    first, so the submitter is killed between two arrays (its orphaned sbatch may still
    send one); the next round finds what was accepted and submits only the rest."""
    spool = tmp_path / "spool"
    slow = tmp_path / "slow-sbatch"
    slow.write_text('#!/bin/sh\nsleep 1\nexec sbatch "$@"\n')
    slow.chmod(0o755)
    env = {**env, "LRMS_CONFIG": slurm_site(tmp_path, slurm, f"    sbatch_command: {slow}\n")}
    (tmp_path / "seeds.txt").write_text("".join(f"{n}\n" for n in range(1200)))
    proc = subprocess.Popen(
        [LRMS, "submit", "--hold", "--memory", "100MiB", "--params", "seeds.txt", "--",
         "sh", "-c", "sleep 300", "sh", "{1}"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        until(lambda: slurm_arrays(spool) or proc.poll() is not None, pause=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        before = slurm_arrays(spool)
        assert proc.returncode == -signal.SIGKILL and 1 <= len(before) < 3, (
            before, proc.stderr.read() if proc.stderr else "")
        until(lambda: not sbatch_running(spool))

        jobs = stored(env, tmp_path)  # one round: recovers, then submits the rest
        arrays = slurm_arrays(spool)
        assert len(arrays) == 3 and set(before) <= set(arrays)  # no array submitted twice
        assert len(jobs) == 1200 and all(job["native_id"] for job in jobs)
        assert len({job["native_id"] for job in jobs}) == 1200  # each task once
        assert {job["native_id"].partition("_")[0] for job in jobs} == set(arrays)
    finally:
        left = list(slurm_arrays(spool))
        if left:
            subprocess.run(["scancel", *left], check=False)


# -- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (the tests run as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_fetch_onto_a_full_disk_leaves_no_partial_file(env, tmp_path, small_disk):
    job = lrms_cli(env, tmp_path, "submit", "--output", "big.dat", "--", "sh", "-c",
                   "head -c 300000 /dev/zero > big.dat; echo made").stdout.strip()
    lrms_cli(env, tmp_path, "wait", job)
    done = lrms_cli(env, tmp_path, "fetch", job, "--dir", str(small_disk), check=False)
    assert done.returncode == 3
    assert done.stderr == (f"lrms: error: job {job}: fetching outputs into {small_disk} "
                           "failed: cannot copy big.dat (No space left on device)\n")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "big.dat" not in os.listdir(small_disk)
    assert not [name for name in os.listdir(small_disk) if name.endswith(".lrms-part")]
    assert (tmp_path / "lrms-output" / job / "big.dat").stat().st_size == 300000  # elsewhere
    again = lrms_cli(env, tmp_path, "fetch", job, "--dir", str(tmp_path / "roomy"))
    assert (tmp_path / "roomy" / "big.dat").stat().st_size == 300000 and again.returncode == 0


# -- stores that must not be touched ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["corrupt", "newer"])
def test_bad_store_is_refused_byte_for_byte_unchanged(env, tmp_path, kind):
    store = tmp_path / "jobs.db"
    if kind == "corrupt":
        store.write_bytes(os.urandom(8192))
    else:
        lrms.JobStore(store).close()
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; "
                        "db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA user_version=7');"
                        " db.commit(); db.close()", str(store)], check=True)
    before = store.read_bytes()
    files = sorted(os.listdir(tmp_path))
    for args in (["status"], ["submit", "--", "true"], ["run", "--", "true"], ["wait"],
                 ["clean", "--all-terminated"], ["cancel", "--all-active"]):
        done = lrms_cli(env, tmp_path, *args, check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("lrms: error: ") and str(store) in done.stderr
        assert ("newer than this lrms" if kind == "newer" else "not a usable lrms job store") \
            in done.stderr
        assert "Traceback" not in done.stderr
    assert store.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == files  # no -wal, -shm or journal left behind
