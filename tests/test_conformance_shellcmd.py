"""The conformance suite (``pytest -p lrms.testing``) run as a backend author runs it.

Each test writes a YAML configuration and runs the suite in a subprocess against
the shellcmd backend: on this machine, and as the test sshd's ``lrmstest`` user
over SSH.  The subprocess must pass every test of the suite and nothing else.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

import lrms

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Tests in lrms/testing/conformance.py (parametrized cases counted).
SUITE_SIZE = 36


def run_suite(options: list[str], resource: str, cwd: Path) -> str:
    """Run the suite against ``resource``; assert it all passed; return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "lrms.testing", *options, "--lrms-timeout", "60",
         "-p", "no:cacheprovider", "-rfEs"],
        cwd=cwd, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    pattern = rf"=+ {SUITE_SIZE} passed(, \d+ warnings?)? in [\d.]+s( \([\d:]+\))? =+"
    assert re.fullmatch(pattern, summary), output  # nothing failed, skipped or deselected
    assert f"lrms conformance: resource {resource!r} (backend shellcmd" in output, output
    return output


def write_config(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_conformance_suite_passes_against_local_shellcmd(tmp_path):
    config = write_config(tmp_path / "site.yaml", {"resources": {"local": {
        "backend": "shellcmd", "max_cores": 4, "max_cores_per_job": 2,
        "max_memory_per_core": "1GiB", "max_walltime": "1h",
        "architecture": [lrms.Arch.local().value],
        "spool": str(tmp_path / "spool"), "grace": 1,
    }}})
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    run_suite(["--lrms-config", str(config), "--lrms-resource", "local"], "local", cwd=workdir)
    assert not list((tmp_path / "spool" / "jobs").iterdir()), "the suite left sandboxes behind"


@pytest.mark.ssh
def test_conformance_suite_passes_against_shellcmd_over_ssh(sshd, tmp_path):
    spool = f"~/lrms-conformance-{uuid.uuid4().hex[:8]}"
    config = write_config(tmp_path / "site.yaml", {
        "resources": {"ssh": {
            "backend": "shellcmd", "transport": "ssh", "frontend": sshd.host,
            "port": sshd.port, "auth": "test", "max_cores": 4, "max_cores_per_job": 2,
            "max_memory_per_core": "1GiB", "max_walltime": "1h",
            "architecture": [lrms.Arch.local().value], "spool": spool, "grace": 1,
        }},
        "auths": {"test": {"type": "ssh", "username": sshd.user, "keyfile": sshd.key,
                           "known_hosts": sshd.known_hosts}},
    })
    try:
        # From the repository root, with --opt=value so that pytest takes its rootdir
        # and ini file (testpaths, importlib mode) from there: the plugin still
        # collects exactly the suite.
        output = run_suite([f"--lrms-config={config}", "--lrms-resource=ssh"], "ssh",
                           cwd=REPO_ROOT)
    finally:
        with lrms.load_config(config).resource("ssh") as res:
            jobs = res.transport.expanduser(f"{spool}/jobs")
            left = res.transport.listdir(jobs) if res.transport.exists(jobs) else []
            res.transport.remove(res.transport.expanduser(spool), recursive=True)
    assert f"rootdir: {REPO_ROOT}" in output, output
    assert not left, f"the suite left sandboxes behind over SSH: {left}"
