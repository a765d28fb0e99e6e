"""Where a job runs and what it sees, through the installed ``lrms`` script (issue #14).

The README's examples are run exactly as written in a fresh directory with a fresh
home and job store (the built-in localhost resource); the rest runs on a shellcmd host
over SSH (the test sshd, as the unprivileged ``lrmstest`` user).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import lrms

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)
LIMITS = ("    max_cores: 2\n    max_cores_per_job: 2\n    max_memory_per_core: 1GiB\n"
          "    max_walltime: 1h\n    architecture: [x86_64]\n")


def readme_blocks() -> list[tuple[str, str]]:
    """(language, text) of the code blocks in the README's 'Try it' section that a reader
    runs in a directory (not the block that installs lrms)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Try it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(sh|python)\n(.*?)^```$", section, re.S | re.M)
    return [(language, body) for language, body in blocks if "pip install" not in body]


def test_the_readme_examples_work_as_written_in_a_fresh_directory(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LRMS_", "XDG_"))}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    blocks = readme_blocks()
    assert [language for language, _ in blocks] == ["sh", "sh", "sh", "python"]
    said = []
    for language, body in blocks:
        argv = ["bash", "-e", "-c", body] if language == "sh" else [sys.executable, "-c", body]
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert done.returncode == 0, f"{body}\nexit {done.returncode}: {done.stderr}"
        said.append(done.stdout)
    folders = sorted((work / "lrms-output").iterdir())
    results = [json.loads((folder / "result.json").read_text()) for folder in folders]
    assert sorted(result["seed"] for result in results) == list(range(1, 101))
    assert all(result["value"] == result["seed"] ** 2 % 97 for result in results)
    assert json.loads((work / "result.json").read_text()) == {"rows": 3, "cores": "2"}
    assert said[2].startswith("3 rows\n")
    assert (work / "stdout").read_text() == "42\n"  # the Python example's fetched stdout


@pytest.fixture
def site(sshd, tmp_path) -> Iterator[dict[str, str]]:
    """An SSH shellcmd resource 'here' in a config file; its spool is removed afterwards."""
    spool = f"~/lrms-test/{uuid.uuid4().hex[:8]}"
    config = tmp_path / "site.yaml"
    config.write_text(
        f"resources:\n  here:\n    backend: shellcmd\n    transport: ssh\n"
        f"    frontend: {sshd.host}\n    port: {sshd.port}\n    auth: test\n"
        f"    spool: {spool}\n" + LIMITS
        + f"auths:\n  test:\n    type: ssh\n    username: {sshd.user}\n"
        f"    keyfile: {sshd.key}\n    known_hosts: {sshd.known_hosts}\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("LRMS_")}
    env["LRMS_NO_AGENT"] = "1"  # the commands run their own rounds
    env.update(LRMS_CONFIG=str(config), LRMS_STORE=str(tmp_path / "jobs.db"))
    resource = lrms.load_config(str(config)).resource("here")
    try:
        yield {"env": env, "spool": resource.backend.spool, "host": sshd.host}
    finally:
        resource.transport.remove(resource.backend.spool, recursive=True)
        resource.close()


def lrms_cli(site: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([f"{BIN}/lrms", *args], cwd=cwd, env=site["env"], capture_output=True,
                          text=True, timeout=300, check=False)


DUMP = """\
import json, os
names = ("LRMS_JOB_ID", "LRMS_CORES", "LRMS_GPUS", "LRMS_SANDBOX", "OMP_NUM_THREADS")
json.dump({name: os.environ.get(name) for name in names}, open("env.json", "w"))
print(os.getcwd())
"""


@pytest.mark.ssh
def test_over_ssh_the_named_script_is_sent_and_the_job_sees_its_environment(site, tmp_path):
    (tmp_path / "dump.py").write_text(DUMP)
    done = lrms_cli(site, tmp_path, "run", "--cores", "2", "--output", "env.json", "--",
                    "python3", "dump.py")
    assert done.returncode == 0, done.stderr
    [job] = json.loads(lrms_cli(site, tmp_path, "status", "--all", "--json").stdout)
    sandbox = f"{site['spool']}/jobs/{job['jobid']}"
    assert done.stdout == f"{sandbox}\n"
    assert json.loads((tmp_path / "env.json").read_text()) == {
        "LRMS_JOB_ID": job["jobid"], "LRMS_CORES": "2", "LRMS_GPUS": "0",
        "LRMS_SANDBOX": sandbox, "OMP_NUM_THREADS": "2"}


@pytest.mark.ssh
def test_over_ssh_workdir_runs_in_that_directory_of_the_host(site, tmp_path):
    resource_dir = f"{site['spool']}/project"
    lrms.load_config(site["env"]["LRMS_CONFIG"]).resource("here").transport.makedirs(
        resource_dir)
    done = lrms_cli(site, tmp_path, "run", "--workdir", resource_dir, "--", "sh", "-c",
                    'pwd; echo "$LRMS_SANDBOX"')
    assert done.returncode == 0, done.stderr
    where, sandbox = done.stdout.splitlines()
    assert where == resource_dir and sandbox != resource_dir
    missing = lrms_cli(site, tmp_path, "run", "--workdir", "~/no-such-dir", "--", "true")
    assert missing.returncode == 126
    assert (f"cannot run in workdir '/home/lrmstest/no-such-dir' on {site['host']}: "
            "No such file or directory") in missing.stderr


@pytest.mark.ssh
def test_over_ssh_a_missing_script_is_named_with_how_to_send_it(site, tmp_path):
    done = lrms_cli(site, tmp_path, "run", "--", "./analyse.sh", "data.csv")
    assert done.returncode == 127
    assert (f"cannot execute './analyse.sh' on {site['host']}: No such file or directory in "
            "the job's sandbox; send it with the job (--input FILE on the command line, "
            "Application inputs in Python)") in done.stderr


@pytest.mark.ssh
def test_over_ssh_a_named_script_runs_with_its_executable_bit(site, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text('#!/bin/sh\necho "ran as $(id -un)"\n')
    script.chmod(0o755)
    done = lrms_cli(site, tmp_path, "run", "--", "./script.sh")
    assert (done.returncode, done.stdout) == (0, "ran as lrmstest\n"), done.stderr
