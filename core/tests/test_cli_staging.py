"""``lrms run`` / ``lrms submit`` send the local files their command names (cli/staging.py).

Real jobs on the built-in localhost shellcmd resource, each test in its own directory,
home and job store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SIM = """\
import json, sys
seed = int(sys.argv[sys.argv.index("--seed") + 1])
json.dump({"seed": seed, "value": seed * seed}, open("result.json", "w"))
print("sim", seed)
"""


def jobs_of(cli, *args: str) -> list[dict]:
    done = cli("status", "--no-refresh", "--all", "--json", *args)
    assert done.code == 0, done.err
    return json.loads(done.out)


def test_run_finds_the_script_it_names_in_the_current_directory(cli, tmp_path):
    (tmp_path / "sim.py").write_text(SIM)
    done = cli("run", "--output", "result.json", "--", "python3", "sim.py", "--seed", "3")
    assert (done.code, done.out) == (0, "sim 3\n"), done.err
    assert json.loads((tmp_path / "result.json").read_text()) == {"seed": 3, "value": 9}
    [job] = jobs_of(cli)
    assert job["app"]["inputs"] == {str(tmp_path / "sim.py"): "sim.py"}


def test_run_dot_slash_script_keeps_its_executable_bit(cli, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text('#!/bin/sh\necho "script in $(basename "$PWD")"\n')
    script.chmod(0o755)
    done = cli("run", "--", "./script.sh")
    assert done.code == 0, done.err
    [job] = jobs_of(cli)
    assert done.out == f"script in {job['jobid']}\n"  # its own sandbox


def test_a_sweep_keeps_each_jobs_result_apart(cli, tmp_path):
    (tmp_path / "sim.py").write_text(SIM)
    (tmp_path / "seeds.txt").write_text("1\n2\n3\n")
    done = cli("submit", "--params", "seeds.txt", "--output", "result.json", "--",
               "python3", "sim.py", "--seed", "{}")
    assert done.code == 0, done.err
    assert cli("wait").code == 0
    results = {}
    for job in jobs_of(cli):
        assert job["returncode"] == 0
        folder = tmp_path / "lrms-output" / job["jobid"]
        results[job["app"]["arguments"][-1]] = json.loads((folder / "result.json").read_text())
    assert results == {s: {"seed": int(s), "value": int(s) ** 2} for s in ("1", "2", "3")}
    assert not (tmp_path / "result.json").exists()  # nothing written beside sim.py


def test_only_existing_files_below_the_current_directory_are_sent(cli, tmp_path):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "in.csv").write_text("1,2\n")
    (work / "-x").write_text("an option, not a file\n")
    (tmp_path / "outside.txt").write_text("above the current directory\n")
    os.chdir(work)
    words = ["data/./in.csv", "data", "../outside.txt", str(work / "data" / "in.csv"),
             "-x", "missing.txt", "~/in.csv"]
    done = cli("run", "--", "sh", "-c", 'find . -name "*.csv"', "sh", *words)
    assert (done.code, done.out) == (0, "./data/in.csv\n"), done.err
    [job] = jobs_of(cli)
    assert job["app"]["inputs"] == {str(work / "data" / "in.csv"): "data/in.csv"}


def test_an_explicit_input_wins_over_the_same_file_or_name(cli, tmp_path):
    (tmp_path / "analyse.py").write_text("import sys; print(open(sys.argv[1]).read().strip())\n")
    (tmp_path / "data.csv").write_text("local data\n")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "data.csv").write_text("new data\n")
    same = cli("run", "--input", "data.csv", "--", "python3", "analyse.py", "data.csv")
    assert (same.code, same.out) == (0, "local data\n"), same.err
    named = cli("run", "--input", "new/data.csv", "--", "python3", "analyse.py", "data.csv")
    assert (named.code, named.out) == (0, "new data\n"), named.err
    first, second = jobs_of(cli)
    assert first["app"]["inputs"] == {str(tmp_path / "data.csv"): "data.csv",
                                      str(tmp_path / "analyse.py"): "analyse.py"}
    assert second["app"]["inputs"] == {str(tmp_path / "new" / "data.csv"): "data.csv",
                                       str(tmp_path / "analyse.py"): "analyse.py"}


def test_a_missing_script_is_named_with_how_to_send_it(cli, tmp_path):
    done = cli("run", "--", "./nowhere.sh")
    assert done.code == 127
    assert ("cannot execute './nowhere.sh' on localhost: No such file or directory in the "
            "job's sandbox; send it with the job (--input FILE") in done.err


def test_workdir_runs_where_the_files_are_and_sends_nothing(cli, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "sim.py").write_text(SIM)
    (tmp_path / "sim.py").write_text("raise SystemExit('the local copy ran')\n")
    done = cli("run", "--workdir", str(project), "--", "python3", "sim.py", "--seed", "4")
    assert (done.code, done.out) == (0, "sim 4\n"), done.err
    assert json.loads((project / "result.json").read_text())["value"] == 16
    [job] = jobs_of(cli)
    assert job["app"]["inputs"] == {} and job["app"]["workdir"] == str(project)


def test_stdin_file_is_read_by_the_job(cli, tmp_path):
    (tmp_path / "in.txt").write_text("line one\nline two\n")
    done = cli("run", "--stdin", "in.txt", "--", "wc", "-l")
    assert (done.code, done.out.strip()) == (0, "2"), done.err
