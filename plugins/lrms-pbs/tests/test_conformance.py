"""The core's conformance suite (``pytest -p lrms.testing``) against the torque flavour.

As a backend author runs it: a YAML configuration naming the ``pbs`` backend with
the command paths of Slurm's Torque compatibility wrappers (fixture ``torque``),
and the suite in a subprocess.  Every test of the suite must pass.
"""

from __future__ import annotations

import re
import subprocess
import sys

import yaml


def test_conformance_suite_passes_on_the_torque_wrappers(torque, tmp_path):
    spool = tmp_path / "spool"
    (tmp_path / "site.yaml").write_text(yaml.safe_dump({"resources": {"torque": {
        "backend": "pbs", "flavour": "torque", "max_cores": 2, "max_cores_per_job": 1,
        "max_memory_per_core": "1GiB", "max_walltime": "1h", "architecture": ["x86_64"],
        "spool": str(spool),
        **{f"{name}_command": f"{torque}/{name}" for name in ("qsub", "qstat", "qdel",
                                                               "pbsnodes")},
    }}}))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "lrms.testing", "--lrms-config", "site.yaml",
         "--lrms-resource", "torque", "--lrms-timeout", "90", "-p", "no:cacheprovider",
         "-rfEs"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ passed in [\d.]+s( \([\d:]+\))? =+", summary), output
    assert "lrms conformance: resource 'torque' (backend pbs" in output, output
    assert not list((spool / "jobs").iterdir()), "the suite left sandboxes behind"
