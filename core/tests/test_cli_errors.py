"""``lrms`` error handling: unknown job ids, bad job stores, resources gone from the
configuration, unreachable resources, configuration problems; and the inspection commands.

Every error is one line (``lrms: error: ...``) with exit code 2 (usage, configuration,
store) or 3 (resource, transport); never a traceback unless ``-vv``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import lrms

LIMITS = """
    max_cores: 2
    max_cores_per_job: 1
    max_memory_per_core: 1GiB
    max_walltime: 1h
    architecture: [x86_64]
"""


def local(name: str, spool: Path, extra: str = "") -> str:
    return f"  {name}:\n    backend: shellcmd\n    spool: {spool}/{name}\n{LIMITS}{extra}"


def write_config(path: Path, *sections: str, auths: str = "") -> str:
    path.write_text("resources:\n" + "".join(sections) + auths)
    return str(path)


def line_of(path: str, text: str) -> int:
    lines = Path(path).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


# -- job ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["status"], ["wait"], ["cancel"], ["fetch"], ["peek"], ["free"], ["clean"], ["resubmit"],
    ["status", "--no-refresh"],
])
def test_unknown_job_ids_are_refused(cli, command):
    done = cli(*command, "20990101000000-0123456789")
    assert done.code == 2
    assert done.err == ("lrms: error: no job '20990101000000-0123456789' in job store "
                        f"{Path('jobs.db').resolve()} (is it from another store? choose it "
                        "with --store or LRMS_STORE; 'lrms status' lists this store's jobs)\n")


def test_a_job_id_from_another_store(cli, tmp_path):
    job = cli("submit", "--", "true").out.strip()
    elsewhere = cli("--store", "other.db", "status", job)  # global option before the command
    assert elsewhere.code == 2 and "is it from another store?" in elsewhere.err
    assert str(tmp_path / "other.db") in elsewhere.err
    after = cli("status", "--store", "jobs.db", "--no-refresh", job)  # ... or after it
    assert after.code == 0 and job in after.out


# -- the job store --------------------------------------------------------------------------------


def corrupt(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 200)


def newer(path: Path) -> None:
    lrms.JobStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()


def foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE accounts (name TEXT)")
    db.close()


@pytest.mark.parametrize(("spoil", "message"), [
    (corrupt, "is not a usable lrms job store (file is not a database); it was left untouched"),
    (newer, "has schema version 99, newer than this lrms understands (1); upgrade lrms"),
    (foreign, "is an SQLite file but not an lrms job store; it was left untouched"),
])
def test_bad_stores_are_refused_and_left_untouched(cli, tmp_path, spoil, message):
    store = tmp_path / "bad.db"
    spoil(store)
    before = store.read_bytes()
    for command in (["status", "--no-refresh"], ["status"], ["submit", "--", "true"],
                    ["wait"], ["clean", "--all-terminated"]):
        done = cli("--store", str(store), *command)
        assert done.code == 2, command
        assert done.err.startswith(f"lrms: error: {store}") or (
            done.err.startswith(f"lrms: error: job store {store}")), done.err
        assert message in done.err and done.err.count("\n") == 1
    assert store.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("bad")) == ["bad.db"]


def test_store_that_is_a_directory(cli, tmp_path):
    (tmp_path / "dir.db").mkdir()
    done = cli("status", "--store", "dir.db")
    assert done.code == 2 and "is a directory; give a file path" in done.err


def test_traceback_only_with_vv(cli, tmp_path):
    corrupt(tmp_path / "bad.db")
    quiet = cli("status", "--store", "bad.db")
    assert "Traceback" not in quiet.err
    loud = cli("-vv", "status", "--store", "bad.db")
    assert loud.code == 2
    assert "Traceback (most recent call last)" in loud.err and "StoreError" in loud.err
    assert loud.err.rstrip().splitlines()[-1].startswith("lrms: error: ")


# -- resources gone or unreachable --------------------------------------------------------------


def test_jobs_on_a_resource_removed_from_the_configuration(cli, tmp_path):
    both = write_config(tmp_path / "site.yaml", local("keep", tmp_path), local("gone", tmp_path))
    job = cli("--config", both, "submit", "--resource", "gone", "--", "sleep", "1").out.strip()
    assert job
    write_config(tmp_path / "site.yaml", local("keep", tmp_path))

    status = cli("--config", both, "status")
    assert status.code == 2
    assert job in status.out  # the table is still shown
    assert (f"lrms: error: resource 'gone' of 1 active job(s) ({job}) is not in the "
            f"configuration ({both}; configured: keep)") in status.err
    assert f"lrms --config {both} clean --force {job}" in status.err
    assert "Traceback" not in status.err
    assert cli("--config", both, "wait", job).code == 2  # would never end
    for command in (["cancel", job], ["peek", job], ["fetch", job]):
        done = cli("--config", both, *command)
        assert done.code == 2, command
        assert "no resource named 'gone' (configured: keep)" in done.err
    refused = cli("--config", both, "clean", job)
    assert refused.code == 2 and "only a TERMINATED job can be cleaned" in refused.err
    forgot = cli("--config", both, "clean", "--force", job)
    assert forgot.code == 0, forgot.err
    assert f"job {job} (" in forgot.err and " on gone) is forgotten" in forgot.err
    assert cli("--config", both, "status", "--json").out == "[]\n"


def test_resources_shows_each_resource_and_its_errors(cli, tmp_path):
    config = write_config(
        tmp_path / "site.yaml", local("here", tmp_path),
        local("far", tmp_path, "    transport: ssh\n    frontend: 127.0.0.1\n    port: 1\n"
                               "    auth: k\n"),
        auths=f"auths:\n  k: {{type: ssh, username: nobody, known_hosts: {tmp_path}/kh, "
              "connect_timeout: 2}\n")
    done = cli("--config", config, "resources")
    assert done.code == 3
    header, here, far, error = done.out.splitlines()
    assert header.split()[:4] == ["NAME", "BACKEND", "HOST", "CORES"]
    assert here.split() == ["here", "shellcmd", "localhost", "2", "1", "1GiB", "1h", "2/2", "0",
                            "0/0"]
    assert far.split()[:3] == ["far", "shellcmd", "127.0.0.1"] and "unreachable" in far
    assert error.startswith("far: error: ") and "127.0.0.1:1" in error
    data = {entry["name"]: entry for entry in json.loads(
        cli("--config", config, "resources", "--json").out)}
    assert data["here"]["status"]["total_slots"] == 2 and data["here"]["error"] is None
    assert data["far"]["status"] is None and "127.0.0.1:1" in data["far"]["error"]
    assert data["far"]["max_walltime"] == "1h"


# -- configuration ---------------------------------------------------------------------------------


def test_config_check(cli, tmp_path):
    good = write_config(tmp_path / "good.yaml", local("a", tmp_path), local("b", tmp_path))
    done = cli("config", "check", good)
    assert done == (0, f"{good}: 2 resource(s) OK: a, b\n", "")
    assert cli("--config", good, "config", "check").code == 0

    bad = write_config(tmp_path / "bad.yaml", local("a", tmp_path, "    spoool: x\n"),
                       local("b", tmp_path, "    grace: soon\n"))
    spoool, grace = line_of(bad, "spoool:"), line_of(bad, "grace:")
    done = cli("config", "check", bad)
    assert done.code == 2
    assert done.out.splitlines() == [
        f"{bad}:{spoool}: resources.a.spoool: unknown option (valid options here: architecture, "
        "auth, backend, frontend, grace, max_cores, max_cores_per_job, max_gpus_per_job, "
        "max_memory_per_core, "
        "max_walltime, poll_interval, port, python, spool, transport)",
        f"{bad}:{grace}: resources.b.grace: expected a whole number, got 'soon'",
    ]
    problems = json.loads(cli("config", "check", "--json", bad).out)["problems"]
    assert [(p["line"], p["key"]) for p in problems] == [(spoool, "resources.a.spoool"),
                                                         (grace, "resources.b.grace")]

    broken = tmp_path / "broken.yaml"
    broken.write_text("resources:\n  a:\n    backend: nosuch\n" + LIMITS)
    done = cli("config", "check", str(broken))
    assert done.code == 2
    assert done.out.startswith(f"{broken}:3: resources.a.backend: no backend named 'nosuch'")
    missing = cli("config", "check", "nowhere.yaml")
    assert missing.code == 2 and missing.out == "nowhere.yaml: configuration file not found\n"
    assert cli("config").code == 2  # needs a subcommand


def test_a_bad_configuration_is_a_usage_error_for_every_command(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources:\n  a:\n    backend: shellcmd\n    max_cores: two\n")
    done = cli("--config", str(bad), "submit", "--", "true")
    assert done.code == 2
    assert done.err.startswith(f"lrms: error: {bad}:4: resources.a.max_cores: ")


# -- backends -------------------------------------------------------------------------------


def test_backends_lists_and_checks_each(cli):
    done = cli("backends")
    assert done.code == 0
    lines = {line.split()[0]: line for line in done.out.splitlines()}
    assert set(lines) == {info.name for info in lrms.list_backends()}
    assert lines["shellcmd"].split()[1] == "lrms-shellcmd"
    assert lines["shellcmd"].endswith("(lrms_shellcmd:ShellcmdBackend)  ok")
    listed = json.loads(cli("backends", "--json").out)
    assert all(entry["checked"] and entry["problem"] is None for entry in listed)
    quick = cli("backends", "--no-check")
    assert quick.code == 0 and " ok" not in quick.out and "shellcmd" in quick.out


BROKEN_MODULE = "import lrms_cli_no_such_dependency\n"
BAD_HOOK_MODULE = '''\
import lrms


class Misspelt(lrms.SandboxBackend):
    @lrms.hookimpl
    def submit_jobb(self, app, job):
        return job
'''


def test_backends_shows_why_a_backend_is_broken(tmp_path):
    site = tmp_path / "site"
    info = site / "lrms_cli_broken-2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lrms-cli-broken\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text(
        "[lrms.backends]\nimportfail = lrms_cli_broken:Backend\n"
        "misspelt = lrms_cli_badhook:Misspelt\n")
    (site / "lrms_cli_broken.py").write_text(BROKEN_MODULE)
    (site / "lrms_cli_badhook.py").write_text(BAD_HOOK_MODULE)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-m", "lrms.cli", "backends"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("importfail ")))
    assert lines[start].endswith("(lrms_cli_broken:Backend)  BROKEN")
    assert "ModuleNotFoundError: No module named 'lrms_cli_no_such_dependency'" in lines[start + 1]
    assert lines[start + 1].startswith(" ")
    misspelt = next(i for i, line in enumerate(lines) if line.startswith("misspelt "))
    assert lines[misspelt].endswith("BROKEN")
    assert "unknown hook 'submit_jobb'" in lines[misspelt + 1]
    assert any(line.startswith("shellcmd ") and line.endswith("  ok") for line in lines)
    listed = json.loads(subprocess.run(
        [sys.executable, "-m", "lrms.cli", "backends", "--json"], env=env, capture_output=True,
        text=True, timeout=60, check=True).stdout)
    problems = {entry["name"]: entry["problem"] for entry in listed}
    assert "lrms_cli_no_such_dependency" in problems["importfail"]
    assert problems["shellcmd"] is None


def test_config_problems_show_control_characters_escaped(cli, tmp_path):
    bad = write_config(tmp_path / "bad.yaml", local("a", tmp_path, '    "sp\\eool\\n": x\n'))
    done = cli("config", "check", bad)
    assert done.code == 2
    [line] = done.out.splitlines()
    number = line_of(bad, '"sp')
    assert line.startswith(f"{bad}:{number}: resources.a.sp\\x1bool\\n: unknown option")
