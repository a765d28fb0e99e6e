"""``lrms submit --params`` and ``--file``: many jobs from a file, on the localhost resource."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lrms.yamlfile import MAX_BYTES


def jobs_of(cli, *args: str) -> list[dict]:
    done = cli("status", "--no-refresh", "--json", *args)
    assert done.code == 0, done.err
    return json.loads(done.out)


def stdout_of(tmp_path: Path, job: dict) -> str:
    return (tmp_path / "lrms-output" / job["jobid"] / "stdout").read_text()


# -- --params -----------------------------------------------------------------------------


def test_params_fill_each_placeholder_as_one_argument(cli, tmp_path):
    (tmp_path / "params.txt").write_text("# name seed\nalpha 1\n\n   \nbeta 2 $(id);*\n")
    script = 'printf "%s|" "$@"; printf "%s|" "$@" > "res-$1.txt"'
    done = cli("submit", "--params", "params.txt", "--tag", "p", "--name", "sim-{1}",
               "--output", "res-{1}.txt", "--env", "SEED={2}", "--",
               "sh", "-c", script + '; echo "$SEED"', "sh", "{1}", "{2}", "x{1}y", "{}")
    assert done.code == 0, done.err
    assert len(done.out.split()) == 2
    assert cli("wait", "--tag", "p").code == 0
    alpha, beta = jobs_of(cli, "--tag", "p")
    assert (alpha["name"], beta["name"]) == ("sim-alpha", "sim-beta")
    assert alpha["app"]["arguments"][4:] == ["alpha", "1", "xalphay", "alpha 1"]
    assert stdout_of(tmp_path, alpha) == "alpha|1|xalphay|alpha 1|1\n"
    assert stdout_of(tmp_path, beta) == "beta|2|xbetay|beta 2 $(id);*|2\n"
    assert (tmp_path / "lrms-output" / beta["jobid"] / "res-beta.txt").read_text() == (
        "beta|2|xbetay|beta 2 $(id);*|")


def test_params_without_placeholders_append_the_fields(cli, tmp_path):
    (tmp_path / "p.txt").write_text("a b\nc\n")
    assert cli("submit", "--params", "p.txt", "--", "echo", "got").code == 0
    assert cli("wait").code == 0
    first, second = jobs_of(cli)
    assert (first["name"], second["name"]) == ("echo-1", "echo-2")
    assert stdout_of(tmp_path, first) == "got a b\n"
    assert stdout_of(tmp_path, second) == "got c\n"


@pytest.mark.parametrize(("lines", "command", "message"), [
    ("a b\nc\n", ["echo", "{2}"], "p.txt:2: {2} has no field to take: the line has 1 field(s)"),
    ("# only\n\n", ["echo", "{1}"], "p.txt: no parameter lines"),
    ("a\n", [], "submit --params needs a command after '--'"),
    ("../x\n", ["echo"], None),
])
def test_params_problems_name_the_line_and_add_nothing(cli, tmp_path, lines, command, message):
    (tmp_path / "p.txt").write_text(lines)
    extra = ["--output", "{1}"] if message is None else []
    done = cli("submit", "--params", "p.txt", *extra, "--", *command)
    assert done.code == 2
    expected = message or "p.txt:1: output '../x' escapes the job's sandbox"
    assert expected in done.err, done.err
    assert jobs_of(cli) == []


@pytest.mark.parametrize(("option", "message"), [
    (["--walltime", "0s"], "requested_walltime: invalid duration '0s': it must be more"),
    (["--memory", "0MiB"], "requested_memory: invalid memory quantity '0MiB': it must be more"),
    (["--walltime", "25:61:00"], "requested_walltime: invalid duration '25:61:00': minutes"),
])
def test_zero_or_impossible_requests_on_the_command_line(cli, option, message):
    done = cli("submit", *option, "--", "echo")
    assert done.code == 2 and done.err.startswith(f"lrms: error: {message}"), done.err
    assert done.err.count("\n") == 1
    assert jobs_of(cli) == []


def test_params_file_missing(cli):
    done = cli("submit", "--params", "nosuch.txt", "--", "echo")
    assert done.code == 2 and "nosuch.txt: cannot read: No such file or directory" in done.err


# -- --file --------------------------------------------------------------------------------


APPS_YAML = """\
- arguments: [sh, -c, 'cat in.txt; echo "$GREETING"']
  inputs: [data/in.txt]
  environment: {GREETING: hello}
  jobname: first
- arguments: [echo, 42, 1.5]
  requested_cores: 1
  requested_memory: 10MiB
  requested_walltime: 5min
  outputs: [stdout]
"""


def test_file_yaml_one_job_per_entry(cli, tmp_path):
    spec = tmp_path / "spec"
    (spec / "data").mkdir(parents=True)
    (spec / "data" / "in.txt").write_text("from the input\n")
    (spec / "apps.yaml").write_text(APPS_YAML)
    done = cli("submit", "--file", "spec/apps.yaml", "--tag", "f", "--walltime", "10min")
    assert done.code == 0, done.err
    assert cli("wait", "--tag", "f").code == 0
    first, second = jobs_of(cli, "--tag", "f")
    assert first["name"] == "first" and second["name"] == "echo"
    assert stdout_of(tmp_path, first) == "from the input\nhello\n"  # inputs: relative to the file
    assert stdout_of(tmp_path, second) == "42 1.5\n"
    assert first["app"]["requested_walltime"] == 600  # from the command line
    assert second["app"]["requested_walltime"] == 300  # the entry's own
    assert second["app"]["requested_memory"] == 10 * 1024**2
    assert second["app"]["outputs"] == ["stdout", "stderr"]


def test_file_merge_keys_share_settings(cli, tmp_path):
    (tmp_path / "apps.yaml").write_text("""\
- &small
  arguments: [echo, one]
  requested_cores: 1
  requested_walltime: 5min
  environment: {MODE: fast}
- <<: *small
  arguments: [sh, -c, 'echo "two $MODE"']
  requested_walltime: 10min
- {<<: *small, jobname: third}
""")
    done = cli("submit", "--file", "apps.yaml", "--tag", "m")
    assert done.code == 0, done.err
    assert cli("wait", "--tag", "m").code == 0
    one, two, three = jobs_of(cli, "--tag", "m")
    assert [job["app"]["requested_walltime"] for job in (one, two, three)] == [300, 600, 300]
    assert two["app"]["environment"] == {"MODE": "fast"}
    assert stdout_of(tmp_path, two) == "two fast\n"
    assert three["name"] == "third" and three["app"]["arguments"] == ["echo", "one"]


def test_params_file_must_be_a_small_regular_file(cli, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    done = cli("submit", "--params", "fifo", "--", "echo")
    assert done.code == 2 and "fifo: not a regular file (a FIFO)" in done.err
    with open(tmp_path / "big.txt", "wb") as big:
        big.truncate(MAX_BYTES + 1)
    done = cli("submit", "--params", "big.txt", "--", "echo")
    assert done.code == 2 and "big.txt: too large: 1.0MiB (at most 1MiB)" in done.err
    assert jobs_of(cli) == []


def test_file_json(cli, tmp_path):
    (tmp_path / "apps.json").write_text(json.dumps([
        {"arguments": ["echo", "j"], "jobname": "js", "environment": {"N": 1}}]))
    done = cli("submit", "--json", "--file", "apps.json")
    assert done.code == 0, done.err
    [job] = json.loads(done.out)
    assert job["name"] == "js" and job["app"]["environment"] == {"N": "1"}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("apps.yaml", "- argumets: [echo]\n",
     "apps.yaml:1: entry 1: argumets: unknown key (known: arguments, inputs,"),
    ("apps.yaml", "- arguments: [echo]\n- jobname: x\n",
     "apps.yaml:2: entry 2: arguments: missing"),
    ("apps.yaml", "- arguments: echo hi\n",
     "apps.yaml:1: entry 1: arguments: expected an argv list such as [echo, hello]"),
    ("apps.yaml", "- arguments: [echo]\n  requested_cores: many\n",
     "apps.yaml:2: entry 1: requested_cores: expected a whole number, got 'many'"),
    ("apps.yaml", "- arguments: [echo]\n  requested_memory: 4 GBs\n", "entry 1: "),
    ("apps.yaml", "- arguments: [echo]\n  inputs: [nosuch.dat]\n",
     "nosuch.dat does not exist"),
    ("apps.yaml", "- arguments: [echo]\n  requested_cores: 64\n", "max_cores_per_job"),
    ("apps.yaml", "- [echo, hi]\n", "apps.yaml: entry 1: expected a mapping"),
    ("apps.yaml", "arguments: [echo]\n", "apps.yaml: expected a non-empty list"),
    ("apps.yaml", "- arguments: [echo\n", "apps.yaml:1: invalid YAML"),  # not past the end
    ("apps.json", "[{\"arguments\": [\"echo\"],}]", "apps.json:1: invalid JSON"),
    ("apps.json", "[]", "apps.json: expected a non-empty list of applications"),
])
def test_file_problems_name_the_file_entry_and_key(cli, tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    done = cli("submit", "--file", name)
    assert done.code == 2
    assert done.err.startswith("lrms: error: ") and message in done.err, done.err
    assert "Traceback" not in done.err
    assert jobs_of(cli) == []


def test_file_and_a_command_do_not_mix(cli, tmp_path):
    (tmp_path / "apps.yaml").write_text("- arguments: [echo]\n")
    done = cli("submit", "--file", "apps.yaml", "--", "echo")
    assert done.code == 2 and "give no command after '--'" in done.err
    both = cli("submit", "--file", "apps.yaml", "--params", "p.txt")
    assert both.code == 2  # argparse: not allowed together


# -- the job template ------------------------------------------------------------------------


def test_template_options_reach_the_stored_application(cli, tmp_path):
    (tmp_path / "in.txt").write_text("fed on stdin\n")
    done = cli("submit", "--json", "--hold", "--workdir", "~/w", "--stdin", "in.txt",
               "--launcher", "mpirun", "--nodes", "1", "--tasks-per-node", "1", "--",
               "cat")
    assert done.code == 0, done.err
    app = json.loads(done.out)[0]["app"]
    assert (app["hold"], app["workdir"], app["launcher"]) == (True, "~/w", "mpirun")
    assert app["stdin"] == "in.txt" and app["inputs"] == {str(tmp_path / "in.txt"): "in.txt"}
    assert jobs_of(cli)[0]["state"] == "NEW"  # held by the engine: shellcmd cannot hold


def test_stdin_file_is_staged_and_read(cli, tmp_path):
    (tmp_path / "in.txt").write_text("fed on stdin\n")
    done = cli("run", "--stdin", "in.txt", "--", "cat")
    assert (done.code, done.out) == (0, "fed on stdin\n"), done.err


@pytest.mark.parametrize(("options", "shown"), [
    (["--account", "proj"], "account=proj"),
    (["--gpus", "1"], "requested_gpus=1"),
    (["--mail-user", "me@example.org", "--mail-type", "end,begin"], "email=me@example.org"),
    (["--exclusive"], "exclusive=true"),
    (["--begin", "2026-12-07T10:00:00+00:00"], "earliest_start=2026-12-07T"),
])
def test_a_field_the_backend_cannot_honour_is_refused_on_one_line(cli, options, shown):
    done = cli("submit", *options, "--", "true")
    assert done.code == 2, done.err
    assert done.err.count("\n") == 1 and (
        f"resource localhost (backend shellcmd) cannot honour {shown}") in done.err, done.err
    assert jobs_of(cli) == []


@pytest.mark.parametrize(("options", "message"), [
    (["--begin", "tomorrow"], "--begin: expected a time such as 2026-12-07T10:00 or an offset"),
    (["--begin", "+0s"], "--begin: invalid duration '0s'"),
    (["--after", "x:maybe"], "after: a dependency is JOBID[:ok|:any], got 'x:maybe'"),
    (["--mail-type", "end"], "email_events needs an email address"),
    (["--workdir", "rel/dir"], "workdir must be an absolute directory on the resource"),
    (["--after", "20261206-nosuch"], "no job '20261206-nosuch' in job store"),
])
def test_bad_template_options_are_one_line_usage_errors(cli, options, message):
    done = cli("submit", *options, "--", "true")
    assert done.code == 2 and done.err.startswith("lrms: error: ") and message in done.err, (
        done.err)
    assert done.err.count("\n") == 1
    assert jobs_of(cli) == []


def test_begin_forms():
    import datetime
    import time

    from lrms.cli.apps import begin_time

    assert begin_time("2026-12-07T10:00+01:00") == datetime.datetime(
        2026, 12, 7, 9, 0, tzinfo=datetime.timezone.utc).timestamp()
    assert begin_time("2026-12-07T10:00") == datetime.datetime(2026, 12, 7, 10, 0).timestamp()
    assert begin_time(datetime.date(2026, 12, 7)) == datetime.datetime(2026, 12, 7).timestamp()
    before = time.time()
    offset = begin_time("+30min")
    assert before + 1800 <= offset <= time.time() + 1800


def test_file_template_keys(cli, tmp_path):
    first = cli("submit", "--json", "--", "true")
    jobid = json.loads(first.out)[0]["jobid"]
    (tmp_path / "apps.yaml").write_text(
        "- arguments: [echo]\n  hold: true\n  workdir: /tmp\n  launcher: srun\n"
        f"  tasks_per_node: 1\n  nodes: 1\n  after: [{jobid}, '{jobid}:any']\n")
    done = cli("submit", "--json", "--file", "apps.yaml")
    assert done.code == 0, done.err
    app = json.loads(done.out)[0]["app"]
    assert app["after"] == [{"jobid": jobid, "condition": "ok", "native_id": None},
                            {"jobid": jobid, "condition": "any", "native_id": None}]
    assert (app["hold"], app["workdir"], app["launcher"]) == (True, "/tmp", "srun")


@pytest.mark.parametrize(("entry", "message"), [
    ("  begin: someday\n", "apps.yaml:2: entry 1: begin: expected a time such as"),
    ("  gpus: many\n", "apps.yaml:2: entry 1: gpus: expected a whole number"),
    ("  gpus: 2\n", "cannot honour requested_gpus=2"),
    ("  hold: yes please\n", "apps.yaml:2: entry 1: hold: expected true or false"),
    ("  email_events: [end]\n", "apps.yaml:1: entry 1: email_events needs an email address"),
])
def test_file_template_problems_name_the_entry_and_key(cli, tmp_path, entry, message):
    (tmp_path / "apps.yaml").write_text(f"- arguments: [echo]\n{entry}")
    done = cli("submit", "--file", "apps.yaml")
    assert done.code == 2 and message in done.err, done.err
    assert jobs_of(cli) == []
