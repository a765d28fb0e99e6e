"""The third-party plugin path, end to end, with the example backend examples/lrms-at.

The core and lrms-at are built into wheels (``python -m build --wheel``, each
from a copy of its source tree) and installed, with pytest, into a fresh
virtual environment that sees nothing of this repository: no editable
install, no source directory on its path.  There, ``lrms backends`` lists
``at``, ``lrms run`` runs a job through the real atd (``start-atd.sh``), the
example's own tests pass against the installed wheel, and so does the
conformance suite (``python -m pytest -p lrms.testing``).

What the suite does not cover (``find_jobs``, cancelling a job still queued) is
tested here too, with the backend class imported from the example's source tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import lrms
from lrms import Application, Job, State

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lrms-at"
ARTIFACTS = ("build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def atd(pytestconfig: pytest.Config) -> dict[str, str]:
    """atd with no load limit to speak of and no pause between batch jobs."""
    # start_service of the root conftest.py, as pytest loaded it (under a module name that
    # depends on how pytest was invoked, so not importable by name)
    conftest = next(plugin for plugin in pytestconfig.pluginmanager.get_plugins()
                    if getattr(plugin, "__file__", None) == str(ROOT / "conftest.py"))
    env: dict[str, str] = conftest.start_service("start-atd.sh", "/tmp/lrms-atd.env")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the core and lrms-at wheels (plus pytest); returns its bin dir."""
    work = tmp_path_factory.mktemp("example-plugin")
    wheels = work / "wheels"
    for source in (ROOT / "core", EXAMPLE):
        copy = work / "src" / source.name
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*ARTIFACTS))
        built = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(copy)],
            capture_output=True, text=True, timeout=600, check=False)
        assert built.returncode == 0, f"building {source.name}:\n{built.stdout}{built.stderr}"
    bindir = work / "venv" / "bin"
    venv.EnvBuilder(with_pip=True, clear=True).create(work / "venv")
    found = sorted(wheels.glob("*.whl"))
    assert [w.name.split("-")[0] for w in found] == ["lrms", "lrms_at"], found
    pip = subprocess.run([bindir / "python", "-m", "pip", "install", "-q", *found, "pytest"],
                         capture_output=True, text=True, timeout=600, env=clean_env(bindir),
                         cwd=work, check=False)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return bindir


def clean_env(bindir: Path) -> dict[str, str]:
    """The environment without Python or lrms settings, and the venv first on PATH in place
    of this repository's (at jobs inherit it)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "VIRTUAL_ENV", "LRMS_"))}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join([str(bindir), *path])
    env["LRMS_NO_AGENT"] = "1"  # the commands run their own rounds
    return env


def run(bindir: Path, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(bindir), "HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd / "config")}
    return subprocess.run([str(bindir / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=600, env=env, cwd=cwd, check=False)


def write_config(directory: Path) -> Path:
    """One resource ``here`` with ``backend: at``, its spool in ``directory``."""
    config = directory / "site.yaml"
    config.write_text(yaml.safe_dump({"resources": {"here": {
        "backend": "at", "max_cores": 2, "max_cores_per_job": 1,
        "max_memory_per_core": "1GiB", "max_walltime": "1h",
        "architecture": [lrms.Arch.local().value], "spool": str(directory / "spool"),
    }}}))
    return config


def test_the_venv_imports_lrms_and_lrms_at_from_the_venv(installed, tmp_path):
    code = "import lrms, lrms_at; print(lrms.__file__); print(lrms_at.__file__)"
    done = run(installed, ["python", "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    venv_dir = installed.parent
    assert all(Path(p).is_relative_to(venv_dir) for p in done.stdout.split()), done.stdout


def test_lrms_backends_lists_only_at(installed, tmp_path):
    done = run(installed, ["lrms", "backends"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].split()[:4] == ["at", "lrms-at", "0.2.0", "(lrms_at:AtBackend)"], lines


def test_lrms_run_runs_a_job_through_atd(installed, atd, tmp_path):
    config = write_config(tmp_path)
    # prints its argument, then what runs its parent (the job script): atd
    program = ('echo "hi $1"; read -r _ _ _ grandparent _ < /proc/$PPID/stat; '
               'readlink "/proc/$grandparent/exe"; exit 3')
    done = run(installed, ["lrms", "--config", str(config), "run", "--",
                           "sh", "-c", program, "sh", "from at"], tmp_path)
    assert (done.returncode, done.stdout) == (3, "hi from at\n/usr/sbin/atd\n"), done.stderr


def test_the_examples_own_tests_pass_against_the_installed_wheel(installed, tmp_path):
    tests = tmp_path / "lrms-at"  # the distribution without its src/: lrms_at is the wheel's
    shutil.copytree(EXAMPLE, tests, ignore=shutil.ignore_patterns("src", *ARTIFACTS))
    done = run(installed, ["python", "-m", "pytest", "-p", "no:cacheprovider", "-q"], tests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b\d+ passed in ", done.stdout) and " skipped" not in done.stdout


def test_conformance_suite_passes_against_at(installed, atd, tmp_path):
    config = write_config(tmp_path)
    done = run(installed, ["python", "-m", "pytest", "-p", "lrms.testing",
                           f"--lrms-config={config}", "--lrms-resource", "here",
                           "--lrms-timeout", "60", "-p", "no:cacheprovider", "-rfEs"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "lrms conformance: resource 'here' (backend at, lrms-at 0.2.0)" in output, output
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ passed in [\d.]+s( \([\d:]+\))? =+", summary), output
    assert not list((tmp_path / "spool" / "jobs").iterdir()), "the suite left sandboxes behind"


@pytest.fixture
def make_resource(atd, tmp_path, monkeypatch) -> Iterator[Callable[..., lrms.LRMS]]:
    """Makes resources whose backend is the example's class, imported from its source tree."""
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    from lrms_at import AtBackend

    made = []

    def make(**options: object) -> lrms.LRMS:
        made.append(lrms.LRMS("here", lrms.Arch.local(), 2, 1, "1GiB", "1h", backend=AtBackend,
                              spool=str(tmp_path / "spool"), **options))
        return made[-1]

    yield make
    for resource in made:
        resource.close()


def wait_for(resource: lrms.LRMS, jobs: dict[Job, State]) -> None:
    deadline = time.monotonic() + 60
    while True:
        resource.update_job_states(list(jobs))
        if all(job.state is state for job, state in jobs.items()):
            return
        assert time.monotonic() < deadline, {job.native_id: job.state for job in jobs}
        time.sleep(0.1)


def test_find_jobs_finds_every_accepted_job_and_no_other(make_resource, tmp_path):
    res = make_resource()
    running, unprinted, finished = (Job(Application(["sleep", "60"])),
                                    Job(Application(["sleep", "60"])),
                                    Job(Application(["sh", "-c", "exit 4"])))
    for job in (running, unprinted, finished):
        res.submit_job(job.app, job)
        job.state = State.SUBMITTED
    wait_for(res, {running: State.RUNNING, unprinted: State.RUNNING,
                   finished: State.TERMINATED})
    # as if batch had died before printing its "job N at" line: only at -c can tell
    Path(unprinted.sandbox, ".lrms", "batch.out").unlink()
    refused = Job(Application(["true"]))  # its sandbox keeps batch's refusal
    control = tmp_path / "spool" / "jobs" / refused.jobid / ".lrms"
    control.mkdir(parents=True)
    (control / "batch.out").write_text("You do not have permission to use at.\n")
    never = Job(Application(["true"]))  # not even a sandbox

    lost = [Job(job.app, jobid=job.jobid) for job in (running, unprinted, finished)]
    assert res.find_jobs([*lost, refused, never]) == [True, True, True, False, False]
    originals = (running, unprinted, finished)
    assert [(j.native_id, j.sandbox) for j in lost] == [
        (j.native_id, j.sandbox) for j in originals]
    assert refused.native_id is None and never.native_id is None

    for job in lost:
        job.state = State.SUBMITTED
    assert res.update_job_states(lost) == [State.RUNNING, State.RUNNING, State.TERMINATED]
    assert lost[2].exitcode == 4
    for job in lost[:2]:
        res.cancel_job(job)
    wait_for(res, {job: State.TERMINATED for job in lost})
    assert [job.termination_reason for job in lost[:2]] == [lrms.TerminationReason.CANCELLED] * 2


def test_cancel_removes_a_queued_job_before_it_starts(make_resource, tmp_path):
    later = tmp_path / "later"  # a "batch" that queues jobs to start in an hour (queue c)
    later.write_text("#!/bin/sh\nexec at -q c now + 1 hours\n")
    later.chmod(0o755)
    res = make_resource(batch_command=str(later))
    job = Job(Application(["true"]))
    res.submit_job(job.app, job)
    job.state = State.SUBMITTED
    assert res.update_job_state(job) is State.SUBMITTED
    assert "waiting in at queue c" in job.status_message
    status = res.get_resource_status()
    assert status.user_queued >= 1 and status.queued >= status.user_queued
    res.cancel_job(job)
    assert res.update_job_state(job) is State.TERMINATED
    assert job.termination_reason is lrms.TerminationReason.CANCELLED
    assert job.status_message == "cancelled (removed from the queue)"
    assert not Path(job.sandbox, ".lrms", "started").exists(), "the job ran"
