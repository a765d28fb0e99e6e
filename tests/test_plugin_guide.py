"""The plugin guide shows the code as it is, and its minimal backend works.

The guide opens with examples/minimal/lrms_mini_at.py verbatim (at most 80 lines) and its
pyproject.toml; each excerpt marked ``<!-- excerpt: PATH -->`` is a run of PATH's lines;
every Python block compiles.  The minimal backend runs jobs through the real atd
(``start-atd.sh``) to their exit status, cancels a queued and a running job, and passes
the conformance suite, loaded through the entry point its pyproject.toml declares."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tomllib
import yaml

import lrms
from lrms import Application, Job, State, TerminationReason

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugin-guide.md"
MINIMAL = ROOT / "examples" / "minimal"
# a fenced block: its language, and its text
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# a fenced block marked as an excerpt of a file: the file, and the block's text
EXCERPT = re.compile(r"^<!-- excerpt: (\S+) -->\n```\w*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    """The guide's fenced code blocks, in order: (language, text)."""
    return [(found[1], found[2]) for found in FENCE.finditer(GUIDE.read_text())]


def test_the_guide_opens_with_the_minimal_backend_verbatim():
    first = blocks()[0]
    assert first == ("python", (MINIMAL / "lrms_mini_at.py").read_text())
    assert len(first[1].splitlines()) <= 80


def test_the_guide_shows_the_minimal_distributions_entry_point():
    assert ("toml", (MINIMAL / "pyproject.toml").read_text()) in blocks()[:3]
    project = tomllib.loads((MINIMAL / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["lrms.backends"] == {"mini-at": "lrms_mini_at:MiniAtBackend"}


def test_the_guides_excerpts_are_the_code_as_it_is():
    excerpts = EXCERPT.findall(GUIDE.read_text())
    assert len(excerpts) >= 10, "the excerpt markers are gone"
    for path, text in excerpts:
        lines, size = (ROOT / path).read_text().splitlines(), len(text.splitlines())
        runs = (textwrap.dedent("\n".join(lines[i:i + size])) + "\n" for i in range(len(lines)))
        assert text in runs, f"not in {path} as the guide shows it:\n{text}"


def test_every_python_block_of_the_guide_compiles():
    for number, (language, text) in enumerate(blocks()):
        if language == "python":
            compile(text, f"{GUIDE.name}, block {number}", "exec")


@pytest.fixture(scope="module")
def atd(pytestconfig: pytest.Config) -> dict[str, str]:
    """atd as ``tests/services/start-atd.sh`` runs it (batch jobs start at once)."""
    conftest = pytestconfig.pluginmanager.get_plugin(str(ROOT / "conftest.py"))
    env: dict[str, str] = conftest.start_service("start-atd.sh", "/tmp/lrms-atd.env")
    return env


@pytest.fixture
def make_resource(atd, tmp_path, monkeypatch) -> Iterator[Callable[..., lrms.LRMS]]:
    """Makes resources whose backend is the guide's class (no entry point needed)."""
    monkeypatch.syspath_prepend(str(MINIMAL))
    monkeypatch.delitem(sys.modules, "lrms_mini_at", raising=False)
    from lrms_mini_at import MiniAtBackend

    made = []

    def make(**options: object) -> lrms.LRMS:
        made.append(lrms.LRMS("here", lrms.Arch.local(), 2, 1, "1GiB", "1h",
                              backend=MiniAtBackend, spool=str(tmp_path / "spool"), **options))
        return made[-1]

    yield make
    for resource in made:
        resource.close()


def submit(resource: lrms.LRMS, argv: list[str]) -> Job:
    job = Job(Application(argv))
    resource.submit_job(job.app, job)
    job.state = State.SUBMITTED
    return job


def wait_for(resource: lrms.LRMS, job: Job, state: State) -> None:
    deadline = time.monotonic() + 60
    while resource.update_job_state(job) is not state:
        assert job.state in (State.SUBMITTED, State.RUNNING), job.status_message
        assert time.monotonic() < deadline, f"job {job.native_id} still {job.state}"
        time.sleep(0.1)


def test_jobs_run_through_atd_to_their_exit_status(make_resource):
    res = make_resource()
    exits, killed = (submit(res, ["sh", "-c", "echo hi; exit 3"]),
                     submit(res, ["sh", "-c", "kill -9 $$"]))
    for job in (exits, killed):
        wait_for(res, job, State.TERMINATED)
    assert (exits.exitcode, exits.signal, exits.termination_reason) == (
        3, None, TerminationReason.EXITED)
    assert Path(exits.sandbox, "stdout").read_text() == "hi\n"
    assert (killed.exitcode, killed.signal, killed.termination_reason) == (
        None, 9, TerminationReason.SIGNALLED)


def test_cancel_removes_a_queued_job_before_it_starts(make_resource, tmp_path):
    later = tmp_path / "later"  # a "batch" that queues jobs to start in an hour (queue c)
    later.write_text("#!/bin/sh\nexec at -q c now + 1 hours\n")
    later.chmod(0o755)
    res = make_resource(batch_command=str(later))
    job = submit(res, ["true"])
    assert res.update_job_state(job) is State.SUBMITTED
    assert res.get_resource_status().user_queued >= 1
    res.cancel_job(job)
    assert res.update_job_state(job) is State.TERMINATED
    assert job.termination_reason is TerminationReason.CANCELLED
    assert not Path(job.sandbox, ".lrms", "started").exists(), "the job ran"
    res.cancel_job(job)  # atrm: "Cannot find jobid": it has ended, no error


def test_cancel_stops_a_running_job(make_resource):
    res = make_resource()
    job = submit(res, ["sleep", "600"])
    wait_for(res, job, State.RUNNING)
    assert res.get_resource_status().user_run >= 1
    res.cancel_job(job)  # waits for the script to record its PID, if it has not yet
    group = int(Path(job.sandbox, ".lrms", "pid").read_text())
    wait_for(res, job, State.TERMINATED)
    assert job.termination_reason is TerminationReason.CANCELLED
    deadline = time.monotonic() + 30
    while True:  # the script's process group (sleep included) is gone
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, f"process group {group} still runs"
        time.sleep(0.1)


def test_the_minimal_backend_passes_the_conformance_suite(atd, tmp_path):
    """Found by its entry point: a dist-info as its pyproject.toml makes one, on the path."""
    project = tomllib.loads((MINIMAL / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    entries = project["entry-points"]["lrms.backends"].items()
    (info / "entry_points.txt").write_text(
        "[lrms.backends]\n" + "".join(f"{name} = {target}\n" for name, target in entries))
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({"resources": {"here": {
        "backend": "mini-at", "max_cores": 2, "max_cores_per_job": 1,
        "max_memory_per_core": "1GiB", "max_walltime": "1h",
        "architecture": [lrms.Arch.local().value], "spool": str(tmp_path / "spool"),
    }}}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(MINIMAL)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "lrms.testing", f"--lrms-config={config}",
         "--lrms-resource", "here", "--lrms-timeout", "60", "-p", "no:cacheprovider", "-rfEs"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "(backend mini-at, lrms-mini-at 0.1.0)" in output, output
    assert re.search(r"=+ \d+ passed in [\d.]+s( \([\d:]+\))? =+$", output.strip()), output
