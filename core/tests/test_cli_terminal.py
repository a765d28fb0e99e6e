"""The ``lrms`` script as a user meets it: help texts, the installed script, and what it
prints on a real terminal (a pseudo-terminal) against what it prints into a pipe."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lrms
from lrms.cli import _parser, main

LRMS = str(Path(sys.executable).parent / "lrms")
COMMANDS = ["submit", "run", "status", "wait", "cancel", "release", "fetch", "peek", "free",
            "clean",
            "resubmit", "resources", "backends", "agent", "config"]


@pytest.fixture
def env(tmp_path):
    """The environment of an ``lrms`` subprocess: this test's home and store, colours allowed."""
    values = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "LRMS_CONFIG")}
    values.update(LRMS_STORE=str(tmp_path / "jobs.db"), TERM="xterm")
    return values


def in_terminal(argv: list[str], env: dict[str, str], cwd: Path,
                timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal; (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer has gone
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
    return code, b"".join(chunks).decode()


# -- help ---------------------------------------------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_parser_has_every_command_with_description_and_examples():
    found = subcommands()
    assert list(found) == COMMANDS
    for name, parser in found.items():
        assert parser.description, name
        assert "examples:\n  lrms " + name in parser.epilog, name
        assert "exit codes: 0 ok, 1 a job failed, 2 usage" in parser.epilog, name


@pytest.mark.parametrize("command", [*COMMANDS, "config check"])
def test_help_of_each_command(command, capsys):
    assert main([*command.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lrms {command}")
    assert "examples:" in out and "exit codes:" in out
    options = out.split("options:")[1].split("examples:")[0]
    assert "--store" not in options  # accepted after the command, documented on lrms itself
    assert "--config, --store and -v may also be given after the command" in out


def test_without_a_command_help_goes_to_stderr(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: lrms")
    assert main(["nosuch"]) == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err


def test_version_names_core_and_backends(capsys):
    assert main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"lrms {lrms.__version__}"
    assert {line.split(":")[0] for line in lines[1:]} == {i.name for i in lrms.list_backends()}


# -- the installed script --------------------------------------------------------------------------


def test_installed_script_and_python_m(env, tmp_path):
    done = subprocess.run([LRMS, "run", "--", "sh", "-c", "echo out; echo err >&2; exit 5"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (5, "out\n", "err\n")
    listed = subprocess.run([sys.executable, "-m", "lrms.cli", "status", "--no-refresh"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert listed.stdout.endswith("1 job: 1 TERMINATED (1 failed or cancelled)\n")
    assert "\x1b[" not in listed.stdout  # a pipe: no colours


def test_help_imports_no_backend_and_no_ssh():
    code = ("import sys, contextlib, io\n"
            "from lrms.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help']); main(['status', '--help'])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('lrms_', 'paramiko', "
            "'stevedore', 'lrms.cli.'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "['lrms.cli.parser']"


# -- terminals ------------------------------------------------------------------------------


def test_colours_only_on_a_terminal_without_no_color(env, tmp_path):
    assert subprocess.run([LRMS, "submit", "--", "false"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=60).returncode == 0
    subprocess.run([LRMS, "wait"], env=env, cwd=tmp_path, capture_output=True, timeout=60)
    code, shown = in_terminal([LRMS, "status", "--no-refresh"], env, tmp_path)
    assert code == 0
    assert "\x1b[31mTERMINATED" in shown  # red: it failed
    assert "\x1b[1mJOBID" in shown
    code, plain = in_terminal([LRMS, "status", "--no-refresh"], {**env, "NO_COLOR": "1"},
                              tmp_path)
    assert code == 0 and "\x1b[" not in plain and "TERMINATED" in plain


def test_wait_draws_a_progress_bar_on_a_terminal(env, tmp_path):
    ids = [subprocess.run([LRMS, "submit", "--", "sleep", "0.4"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True).stdout.strip()
           for _ in range(2)]
    code, shown = in_terminal([LRMS, "wait", "--interval", "0.1", *ids], env, tmp_path)
    assert code == 0, shown
    assert "\r[" in shown and "2/2 done" in shown and "\x1b[K" in shown
    assert "TERMINATED (exit 0)" not in shown  # no per-job lines on a terminal
    subprocess.run([LRMS, "submit", "--", "true"], env=env, cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    code, plain = in_terminal([LRMS, "wait"], {**env, "NO_COLOR": "1"}, tmp_path)
    assert code == 0 and "\r[" not in plain and "TERMINATED (exit 0)" in plain


def test_status_watch_redraws_on_a_terminal(env, tmp_path):
    subprocess.run([LRMS, "submit", "--", "sleep", "0.5"], env=env, cwd=tmp_path,
                   capture_output=True, timeout=60, check=True)
    code, shown = in_terminal([LRMS, "status", "--watch", "0.2"], env, tmp_path)
    assert code == 0
    screens = shown.split("\x1b[H\x1b[2J")[1:]
    assert len(screens) >= 2
    assert "1 job: 1 TERMINATED" in screens[-1]
    assert all("1 job: 1 TERMINATED" not in screen for screen in screens[:-1])


# -- text that is not ours ------------------------------------------------------------------

NAME = "a\nb\x1b[2Jc\u202ed\x7f"  # a newline, a clear-screen escape, a bidi override, DEL
SHOWN = "a\\nb\\x1b[2Jc\\u202ed\\x7f"


def test_control_characters_are_shown_escaped(env, tmp_path):
    plain = {**env, "NO_COLOR": "1"}
    job = subprocess.run([LRMS, "submit", "--name", NAME, "--tag", "t\tx", "--", "sh", "-c",
                          "exit 4"], env=plain, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    waited = subprocess.run([LRMS, "wait"], env=plain, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert waited.returncode == 1
    assert f"{job}  {SHOWN}  TERMINATED (exit 4)\n" in waited.stderr  # the progress line
    assert f"lrms: job {job} ({SHOWN}) ended: exit 4\n" in waited.stderr  # note()

    listed = subprocess.run([LRMS, "status", "--no-refresh"], env=plain, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    header, row, summary = listed.stdout.splitlines()  # a newline in a name breaks no line
    assert summary == "1 job: 1 TERMINATED (1 failed or cancelled)"
    assert row.split() == [job, SHOWN, "TERMINATED", "localhost", row.split()[4], "4", "0s",
                           "t\\tx"]
    assert header.index("NAME") == row.index(SHOWN) and header.index("TAG") == row.index("t\\t")
    code, shown = in_terminal([LRMS, "status", "--no-refresh"], env, tmp_path)
    assert code == 0 and SHOWN in shown
    assert "\x1b[2J" not in shown and "\u202e" not in shown and "\x7f" not in shown

    data = subprocess.run([LRMS, "status", "--json", "--no-refresh"], env=plain, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert [(job["name"], job["tag"]) for job in json.loads(data)] == [(NAME, "t\tx")]  # raw

    refused = subprocess.run([LRMS, "run", "--output-dir", "no\nsuch\x1b]0;title\x07", "--",
                              "true"], env=plain, cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2
    assert refused.stderr == ("lrms: error: --output-dir no\\nsuch\\x1b]0;title\\x07 does not "
                              "exist\n")  # error()
