"""A sweep of trivial jobs through the agent, next to GNU parallel, in the same run.

For each N: ``lrms submit --params`` of N ``true`` jobs on a local 2-core
shellcmd resource (own store, spool and agent log in a temporary folder), then
``lrms wait`` until all have ended (the agent started by ``submit`` runs them,
waking as each job ends); then ``parallel -j2 true ::: 1..N`` (Debian package
``parallel``).  Prints the seconds of both and the ratio (goal: within 1.5x).

    python bench/agent_throughput.py [--jobs 400 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LRMS = str(Path(sys.executable).parent / "lrms")
CONFIG = """\
resources:
  local:
    backend: shellcmd
    spool: {spool}
    max_cores: 2
    max_cores_per_job: 1
    max_memory_per_core: 1GiB
    max_walltime: 1h
    architecture: [{arch}]
"""


def through_lrms(jobs: int, folder: Path) -> float:
    """Seconds for submit + wait of ``jobs`` true jobs, the agent running them."""
    config = folder / "site.yaml"
    config.write_text(CONFIG.format(spool=folder / "spool", arch=os.uname().machine))
    env = {k: v for k, v in os.environ.items() if k != "LRMS_NO_AGENT"}
    env.update(LRMS_CONFIG=str(config), LRMS_STORE=str(folder / "jobs.db"),
               XDG_STATE_HOME=str(folder / "state"))
    params = "".join(f"{i}\n" for i in range(jobs))
    started = time.perf_counter()
    subprocess.run([LRMS, "submit", "--params", "-", "--", "true"], input=params, text=True,
                   env=env, cwd=folder, check=True, capture_output=True)
    done = subprocess.run([LRMS, "wait"], env=env, cwd=folder, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    if f"{jobs} job(s) terminated, {jobs} ok" not in done.stderr and done.returncode != 0:
        raise SystemExit(f"lrms wait failed: {done.stderr[-500:]}")
    subprocess.run([LRMS, "agent", "stop"], env=env, cwd=folder, capture_output=True,
                   check=False)
    return seconds


def through_parallel(jobs: int) -> float:
    started = time.perf_counter()
    subprocess.run(["parallel", "-j2", "true", ":::", *map(str, range(jobs))], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[400, 1000])
    args = parser.parse_args()
    if shutil.which("parallel") is None:
        raise SystemExit("GNU parallel is missing: apt-get install parallel")
    print(f"{'jobs':>6} {'lrms submit+wait':>17} {'parallel -j2':>13} {'ratio':>6}")
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory(prefix="lrms-bench-") as tmp:
            ours = through_lrms(jobs, Path(tmp))
        theirs = through_parallel(jobs)
        print(f"{jobs:>6} {ours:>16.2f}s {theirs:>12.2f}s {ours / theirs:>5.2f}x"
              f"   ({1000 * ours / jobs:.2f} vs {1000 * theirs / jobs:.2f} ms/job)")


if __name__ == "__main__":
    main()
