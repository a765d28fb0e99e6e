"""Outputs are never lost: a fetch that fails is an error, the sandbox is kept, later rounds
try again, and ``clean`` / ``free`` refuse to delete outputs never fetched unless ``--force``.

The local disk faults are real: a 64 KiB tmpfs that fills up, a read-only tmpfs, a file
where the output folder should be.  The remote fault is a sandbox file its owner cannot
read, on the shellcmd resource over SSH (the test sshd's unprivileged user).  Every
command runs as the installed ``lrms`` script in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

import lrms

LRMS = str(Path(sys.executable).parent / "lrms")


@pytest.fixture
def env(tmp_path):
    values = {k: v for k, v in os.environ.items() if not k.startswith("LRMS_")}
    values["LRMS_NO_AGENT"] = "1"  # the commands run their own rounds
    values.update(LRMS_STORE=str(tmp_path / "jobs.db"), HOME=str(tmp_path / "home"),
                  XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    return values


def lrms_cli(env, cwd, *args):
    return subprocess.run([LRMS, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def stored(env, cwd, jobid) -> dict:
    done = lrms_cli(env, cwd, "status", "--no-refresh", "--json", jobid)
    assert done.returncode == 0, done.stderr
    [job] = json.loads(done.stdout)
    return job


def tmpfs(path: Path, *options: str) -> None:
    path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                   check=True)


@pytest.fixture
def mounts():
    """Mount tmpfs file systems for one test (the tests run as root); unmounted afterwards."""
    made: list[Path] = []

    def mount(path: Path, *options: str) -> Path:
        tmpfs(path, *options)
        made.append(path)
        return path

    yield mount
    for path in reversed(made):
        subprocess.run(["umount", str(path)], check=True)


def test_wait_onto_a_full_disk_fails_keeps_the_sandbox_and_later_rounds_fetch(
        env, tmp_path, mounts):
    small = mounts(tmp_path / "small", "size=64k")
    job = lrms_cli(env, tmp_path, "submit", "--output-dir", str(small), "--output", "big.dat",
                   "--", "sh", "-c", "head -c 300000 /dev/zero > big.dat; echo made")
    assert job.returncode == 0, job.stderr
    jobid = job.stdout.strip()

    waited = lrms_cli(env, tmp_path, "wait", jobid)
    assert waited.returncode == 3, waited.stderr
    failure = (f"lrms: error: job {jobid} (sh): outputs not fetched: fetching outputs into "
               f"{small / jobid} failed: cannot copy big.dat (No space left on device)")
    assert failure in waited.stderr, waited.stderr
    assert "warning" not in waited.stderr
    assert "1 ok, 0 not, outputs of 1 not fetched" in waited.stderr
    assert "Traceback" not in waited.stderr
    record = stored(env, tmp_path, jobid)
    assert record["fetched"] is None and "No space left on device" in record["fetch_error"]
    assert "outputs not fetched" in lrms_cli(env, tmp_path, "status", jobid).stderr

    for command in (["clean", jobid], ["free", jobid]):
        refused = lrms_cli(env, tmp_path, *command)
        assert refused.returncode == 2, refused.stderr
        assert f"job {jobid}: its outputs big.dat, stdout, stderr were never fetched" \
            in refused.stderr
        assert f"'lrms {command[0]} --force {jobid}' deletes them" in refused.stderr
    sandbox = Path(record["sandbox"])
    assert (sandbox / "big.dat").stat().st_size == 300000
    peeked = lrms_cli(env, tmp_path, "peek", jobid, "big.dat", "--offset", "-5")
    assert (peeked.returncode, peeked.stdout) == (0, "\0" * 5)

    subprocess.run(["mount", "-o", "remount,size=1m", str(small)], check=True)
    assert lrms_cli(env, tmp_path, "status", jobid).returncode == 0  # one round fetches it
    assert (small / jobid / "big.dat").stat().st_size == 300000
    assert stored(env, tmp_path, jobid)["fetch_error"] is None
    cleaned = lrms_cli(env, tmp_path, "clean", jobid)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not sandbox.exists()


def test_run_into_a_read_only_folder_exits_3_and_keeps_the_sandbox(env, tmp_path, mounts):
    frozen = mounts(tmp_path / "frozen", "ro,size=64k")
    done = lrms_cli(env, tmp_path, "run", "--output-dir", str(frozen), "--output", "r.txt",
                    "--", "sh", "-c", "echo result > r.txt; echo printed")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "printed\n"
    [job] = json.loads(lrms_cli(env, tmp_path, "status", "--no-refresh", "--json").stdout)
    assert done.stderr == (
        f"lrms: error: job {job['jobid']}: fetching outputs into {frozen} failed: cannot copy "
        "r.txt (Read-only file system)\n"), done.stderr
    assert Path(job["sandbox"], "r.txt").read_text() == "result\n"
    forced = lrms_cli(env, tmp_path, "clean", "--force", job["jobid"])
    assert forced.returncode == 0, forced.stderr
    assert (f"lrms: job {job['jobid']}: deleting its sandbox localhost:{job['sandbox']} with "
            "the outputs never fetched (r.txt)") in forced.stderr
    assert forced.stdout == "forgot 1 job(s), their sandboxes deleted\n"
    assert not Path(job["sandbox"]).exists()


def test_a_file_where_the_output_folder_should_be(env, tmp_path):
    (tmp_path / "taken").write_text("not a folder\n")
    jobid = lrms_cli(env, tmp_path, "submit", "--output-dir", "taken", "--", "echo",
                     "hi").stdout.strip()
    waited = lrms_cli(env, tmp_path, "wait", jobid)
    assert waited.returncode == 3
    assert (f"job {jobid} (echo): outputs not fetched: fetching outputs into "
            f"{tmp_path / 'taken' / jobid} failed: Not a directory") in waited.stderr
    moved = lrms_cli(env, tmp_path, "fetch", jobid, "--dir", "elsewhere")
    assert moved.returncode == 0, moved.stderr
    assert (tmp_path / "elsewhere" / "stdout").read_text() == "hi\n"
    assert stored(env, tmp_path, jobid)["fetched"] is not None
    freed = lrms_cli(env, tmp_path, "free", jobid)
    assert (freed.returncode, freed.stdout) == (0, f"{jobid}: freed\n")


# -- a remote file its owner cannot read -------------------------------------------------------


@pytest.mark.ssh
def test_unreadable_remote_output_is_an_error_and_fetched_once_readable(
        sshd, tmp_path):
    spool = f"~/lrms-test/{uuid.uuid4().hex[:8]}"
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({
        "resources": {"remote": {
            "backend": "shellcmd", "transport": "ssh", "frontend": sshd.host,
            "port": sshd.port, "auth": "test", "spool": spool, "max_cores": 2,
            "max_cores_per_job": 1, "max_memory_per_core": "1GiB", "max_walltime": "1h",
            "architecture": ["x86_64"]}},
        "auths": {"test": {"type": "ssh", "username": sshd.user, "keyfile": sshd.key,
                           "known_hosts": sshd.known_hosts}},
    }))
    app = lrms.Application(["sh", "-c", "echo secret > locked.txt; chmod 000 locked.txt; "
                            "echo fine > fine.txt"], outputs=["locked.txt", "fine.txt"])
    with lrms.Engine(config, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        try:
            [job] = engine.add(app)
            [job] = engine.wait([job], timeout=60)
            assert job.unfetched and job.sandbox is not None
            assert (tmp_path / "out" / job.jobid / "fine.txt").read_text() == "fine\n"
            assert job.fetch_error == (f"fetching outputs into {tmp_path / 'out' / job.jobid} "
                                       "failed: cannot copy locked.txt (Permission denied)")
            with pytest.raises(lrms.InvalidJobState, match="were never fetched"):
                engine.free(job)
            again = engine.progress()  # still unreadable: tried again, still an error
            assert [j.jobid for j in again.unfetched] == [job.jobid]
            assert again.errors == []  # a job's outcome, not a resource's problem

            engine.resource("remote").transport.check(
                ["chmod", "600", f"{job.sandbox}/locked.txt"])
            assert [j.jobid for j in engine.progress().fetched] == [job.jobid]
            assert (tmp_path / "out" / job.jobid / "locked.txt").read_text() == "secret\n"
            job = engine.get(job.jobid)
            assert not job.unfetched and job.fetch_error is None
            engine.free(job)
        finally:
            remote = engine.resource("remote")
            remote.transport.remove(remote.backend.spool, recursive=True)
