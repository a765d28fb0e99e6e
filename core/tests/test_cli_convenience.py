"""The CLI's conveniences: a fast ``--help``, ``--params -``, ``wait --timeout``,
``status --limit/--format``, the "waiting for a free slot" notice and the Ctrl-C message.

Each runs the real CLI (``lrms.cli.main`` in this process, or the installed script as a
subprocess) on the built-in localhost resource.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# What --help must not import: the engine, store, configuration, YAML, the job model
# and the plugin machinery.
HEAVY = ("lrms.engine", "lrms.store", "lrms.config", "lrms.application", "lrms.job", "yaml",
         "pluggy", "stevedore", "paramiko", "lrms_")


def imported_after(code: str) -> list[str]:
    """The modules of ``HEAVY`` a fresh interpreter has imported after running ``code``."""
    probe = (f"import contextlib, io, sys\n{code}\n"
             "print(' '.join(m for m in sys.modules if m.startswith(HEAVY)))\n")
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{probe}"],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


def test_help_imports_no_engine_store_config_yaml_or_plugin_machinery():
    code = ("from lrms.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    codes = [main(['--help']), main(['status', '--help']), main(['wait', '--help']),"
            " main(['submit', '--help'])]\n"
            "assert codes == [0, 0, 0, 0], codes")
    assert imported_after(code) == []


def test_import_lrms_is_lazy_and_every_public_name_still_imports():
    assert imported_after("import lrms; assert lrms.__version__") == []
    every = ("import lrms\n"
             "for name in lrms.__all__: getattr(lrms, name)\n"
             "from lrms import *\n"
             "from lrms import Job, JobStore, Engine, hookimpl, load_config\n"
             "assert set(dir(lrms)) >= set(lrms.__all__)")
    assert "lrms.engine" in imported_after(every)


# -- the real script, as a subprocess --------------------------------------------------------

LRMS = str(Path(sys.executable).parent / "lrms")
# A job that runs until the test creates the file "go" in its working directory.
BLOCKER = ["sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.1; done"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An ``lrms`` subprocess's environment: this test's store, a localhost of one core."""
    site = tmp_path / "site.yaml"
    site.write_text("resources:\n  localhost:\n    backend: shellcmd\n    max_cores: 1\n"
                    "    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
                    "    max_walltime: 1h\n    architecture: [x86_64, aarch64]\n"
                    f"    spool: {tmp_path / 'spool'}\n")
    values = {k: v for k, v in os.environ.items() if k not in ("LRMS_RESOURCE", "NO_COLOR")}
    values.update(LRMS_STORE=str(tmp_path / "jobs.db"), LRMS_CONFIG=str(site))
    return values


def lrms_cli(env: dict[str, str], cwd: Path, *args: str,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LRMS, *args], env=env, cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=120)


def blocker(env: dict[str, str], cwd: Path) -> tuple[str, Path]:
    """Submit a job that holds the only core until the returned file exists."""
    go = cwd / "go"
    done = lrms_cli(env, cwd, "submit", "--tag", "blocker", "--", *BLOCKER, str(go))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), go


def stderr_until(proc: subprocess.Popen[str], text: str, patience: float = 60) -> list[str]:
    """Lines of ``proc``'s stderr up to the first one containing ``text`` (a test that
    never sees it fails after ``patience`` seconds instead of hanging).  The rest of
    stderr stays for ``proc.communicate()``."""
    assert proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        while True:
            line = proc.stderr.readline()
            lines.put(line)
            if not line or text in line:
                return

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + patience
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never said; stderr: {''.join(seen)}")


# -- --params - --------------------------------------------------------------------------------


def test_params_from_standard_input(env, tmp_path):
    done = lrms_cli(env, tmp_path, "submit", "--tag", "p", "--params", "-", "--", "echo", "{2}",
                    stdin="# seeds\na 1\n\nb 2\n")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 2
    assert lrms_cli(env, tmp_path, "wait", "--tag", "p").returncode == 0
    listed = json.loads(lrms_cli(env, tmp_path, "status", "--no-refresh", "--json").stdout)
    assert [job["app"]["arguments"] for job in listed] == [["echo", "1"], ["echo", "2"]]
    assert [job["name"] for job in listed] == ["echo-2", "echo-4"]  # named by line number


@pytest.mark.parametrize(("given", "said"), [
    ("", "lrms: error: --params -: standard input is empty: pipe the parameter lines in\n"),
    ("# only a comment\n", "lrms: error: <stdin>: no parameter lines (blank lines and # "
     "comments are skipped)\n"),
    ("1\n", "lrms: error: <stdin>:1: {2} has no field to take: the line has 1 field(s)\n"),
])
def test_params_from_standard_input_refused_in_one_line(env, tmp_path, given, said):
    done = lrms_cli(env, tmp_path, "submit", "--params", "-", "--", "echo", "{2}", stdin=given)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", said)


def test_params_from_a_terminal_is_refused(env, tmp_path):
    master, slave = pty.openpty()
    try:
        done = subprocess.run([LRMS, "submit", "--params", "-", "--", "echo", "{}"], env=env,
                              cwd=tmp_path, stdin=slave, capture_output=True, text=True,
                              timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 2
    assert done.stderr.startswith("lrms: error: --params -: standard input is a terminal: "
                                  "pipe the parameter lines in, e.g. seq 10 | ")
    assert done.stderr.count("\n") == 1


# -- wait --timeout ----------------------------------------------------------------------------


def test_wait_timeout_stops_waiting_not_the_jobs(env, tmp_path):
    first, go = blocker(env, tmp_path)
    second = lrms_cli(env, tmp_path, "submit", "--", "echo", "two").stdout.strip()
    done = lrms_cli(env, tmp_path, "wait", "--timeout", "0.5")
    assert done.returncode == 124, done.stderr
    said = done.stderr[done.stderr.index("lrms: stopped"):].splitlines()
    assert said[0] == ("lrms: stopped waiting after --timeout 0.5 s: 1 job(s) keep running on "
                       "their resources, 1 not yet started (they start when 'lrms wait' or "
                       "'lrms status' runs next); reattach with")
    assert said[1:] == [f"  lrms wait {first} {second}", f"  lrms status {first} {second}"]
    go.touch()
    again = lrms_cli(env, tmp_path, "wait", first, second)
    assert again.returncode == 0, again.stderr
    assert "2 job(s) terminated, 2 ok, 0 not" in again.stderr


# -- status --limit and --format ---------------------------------------------------------------


def test_status_limit_shows_the_most_recent_and_counts_all(env, tmp_path):
    ids = lrms_cli(env, tmp_path, "submit", "--params", "-", "--", "echo", "{}",
                   stdin="1\n2\n3\n").stdout.split()
    assert lrms_cli(env, tmp_path, "wait").returncode == 0
    done = lrms_cli(env, tmp_path, "status", "--no-refresh", "--limit", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ids[1:]
    assert lines[-1] == "3 jobs: 3 TERMINATED (the last 2 shown)"
    listed = json.loads(lrms_cli(env, tmp_path, "status", "--no-refresh", "--limit", "1",
                                 "--json").stdout)
    assert [job["jobid"] for job in listed] == ids[2:]
    everything = lrms_cli(env, tmp_path, "status", "--no-refresh", "--limit", "5").stdout
    assert everything.endswith("\n3 jobs: 3 TERMINATED\n")


def test_status_format_chooses_the_columns(env, tmp_path):
    job = lrms_cli(env, tmp_path, "submit", "--tag", "t", "--", "sh", "-c", "exit 3"
                   ).stdout.strip()
    lrms_cli(env, tmp_path, "wait")
    done = lrms_cli(env, tmp_path, "status", "--no-refresh", "--format", "jobid,state,exit,tag")
    assert done.returncode == 0, done.stderr
    header, row, summary = done.stdout.splitlines()
    assert header.split() == ["JOBID", "STATE", "EXIT", "TAG"]
    assert row.split() == [job, "TERMINATED", "3", "t"]
    assert summary == "1 job: 1 TERMINATED (1 failed or cancelled)"
    one = lrms_cli(env, tmp_path, "status", "--no-refresh", "--format", "Name")
    assert one.stdout.splitlines()[:2] == ["NAME", "sh"]


def test_status_format_refuses_an_unknown_column_and_json(env, tmp_path):
    done = lrms_cli(env, tmp_path, "status", "--no-refresh", "--format", "jobid,colour")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("lrms: error: --format: unknown column 'colour' (known: jobid,name,"
                           "state,resource,native_id,array,exit,runtime,tag,attempt,sandbox,"
                           "output_dir,message)\n")
    done = lrms_cli(env, tmp_path, "status", "--no-refresh", "--json", "--format", "jobid")
    assert done.returncode == 2
    assert done.stderr.startswith("lrms: error: --format chooses the table's columns; --json ")


def test_status_format_help_names_every_column():
    from lrms.cli.parser import build
    from lrms.cli.render import COLUMNS

    status = build()._subparsers._group_actions[0].choices["status"]  # type: ignore[union-attr]
    [option] = [action for action in status._actions if "--format" in action.option_strings]
    assert ", ".join(COLUMNS) in " ".join(option.help.split())


# -- lrms run: waiting for a free slot; Ctrl-C -------------------------------------------------


def test_run_says_once_that_its_job_waits_for_a_free_slot(env, tmp_path):
    _, go = blocker(env, tmp_path)
    proc = subprocess.Popen([LRMS, "run", "--", "echo", "hello"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = stderr_until(proc, "waiting for a free slot")
        go.touch()
        out, after = proc.communicate(timeout=120)
    finally:
        go.touch()
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, after
    assert out == "hello\n"
    said = [line for line in before + after.splitlines(keepends=True) if "free slot" in line]
    assert len(said) == 1
    assert said[0].startswith("lrms: job ") and said[0].endswith(
        ": waiting for a free slot on localhost\n")


def test_ctrl_c_tells_running_jobs_from_jobs_not_yet_started(env, tmp_path):
    first, go = blocker(env, tmp_path)
    second = lrms_cli(env, tmp_path, "submit", "--", "echo", "two").stdout.strip()
    proc = subprocess.Popen([LRMS, "wait"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stderr_until(proc, f"{first}  sh  RUNNING")  # a round has seen both
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        go.touch()
    assert proc.returncode == 130
    said = rest[rest.index("lrms: interrupted"):].splitlines()
    assert said == [
        "lrms: interrupted: 1 job(s) keep running on their resources, 1 not yet started "
        "(they start when 'lrms wait' or 'lrms status' runs next); reattach with",
        f"  lrms wait {first} {second}", f"  lrms status {first} {second}"]


def test_ctrl_c_of_run_says_its_job_has_not_started(env, tmp_path):
    _, go = blocker(env, tmp_path)
    proc = subprocess.Popen([LRMS, "run", "--", "echo", "later"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        [line] = stderr_until(proc, "waiting for a free slot")
        job = line.split()[2].rstrip(":")
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        go.touch()
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert rest.splitlines() == [
        "lrms: interrupted: 1 job(s) not yet started (they start when 'lrms wait' or "
        "'lrms status' runs next); reattach with",
        f"  lrms wait {job}", f"  lrms status {job}", f"  lrms fetch {job}", f"  lrms peek {job}"]
    assert lrms_cli(env, tmp_path, "wait", job).returncode == 0
