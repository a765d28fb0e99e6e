"""The core's conformance suite (``pytest -p lrms.testing``) against Slurm and Grid Engine.

As a backend author runs it: a YAML configuration naming the backend, and the
suite in a subprocess, against the real cluster / cell started by the fixtures.
Every test of the suite must pass.  (shellcmd: test_conformance_shellcmd.py;
PBS on the Torque wrappers: plugins/lrms-pbs/tests/test_conformance.py.)
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml


def run_suite(tmp_path, resource: dict[str, object]) -> str:
    spool = tmp_path / "spool"
    (tmp_path / "site.yaml").write_text(yaml.safe_dump({"resources": {"batch": {
        "max_cores": 2, "max_cores_per_job": 1, "max_memory_per_core": "1GiB",
        "max_walltime": "1h", "architecture": ["x86_64"], "spool": str(spool), **resource,
    }}}))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "lrms.testing", "--lrms-config", "site.yaml",
         "--lrms-resource", "batch", "--lrms-timeout", "90", "-p", "no:cacheprovider",
         "-rfEs"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ 36 passed in [\d.]+s( \([\d:]+\))? =+", summary), output
    assert not list((spool / "jobs").iterdir()), "the suite left sandboxes behind"
    return output


@pytest.mark.slurm
def test_conformance_suite_passes_on_slurm(slurm, tmp_path):
    output = run_suite(tmp_path, {"backend": "slurm",
                                  "partition": slurm["LRMS_SLURM_PARTITION"]})
    assert "resource 'batch' (backend slurm" in output


@pytest.mark.sge
def test_conformance_suite_passes_on_grid_engine(sge, tmp_path):
    output = run_suite(tmp_path, {"backend": "sge", "queue": sge["LRMS_SGE_QUEUE"]})
    assert "resource 'batch' (backend sge" in output
