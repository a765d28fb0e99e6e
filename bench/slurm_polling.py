"""Scheduler queries of four ``lrms wait`` plus the agent, next to one poller alone.

On the local Slurm (started by ``tests/services/start-slurm.sh``), with the
resource's default poll interval (15 s) and ``squeue``/``sacct`` replaced by
shims that log each call and its caller:

1. one poller alone: N jobs submitted, then one process runs the rounds
   (``Engine.wait``) for S seconds;
2. the same N jobs again, the agent started, and four ``lrms wait`` running at
   once for S seconds.

Prints the ``squeue``/``sacct`` calls of each, by caller (goal: the second at most
the first plus one).  Every job is cancelled at the end of each phase.

    python bench/slurm_polling.py [--jobs 500] [--seconds 120]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import start_service

LRMS = str(Path(sys.executable).parent / "lrms")
QUERIES = ("squeue", "sacct")
WAIT_ALONE = """\
import lrms, os, sys
try:
    engine = lrms.Engine(os.environ["LRMS_CONFIG"], os.environ["LRMS_STORE"])
    engine.wait(timeout=float(sys.argv[1]))
except TimeoutError:
    pass
"""


def setup(folder: Path, partition: str) -> None:
    shims = folder / "shim"
    shims.mkdir()
    for name in QUERIES:
        real = shutil.which(name)
        (shims / name).write_text(
            f'#!/bin/sh\necho "${{LRMS_TEST_CALLER:-?}} {name}" >> {folder}/calls.log\n'
            f'exec {real} "$@"\n')
        (shims / name).chmod(0o755)
    (folder / "site.yaml").write_text(
        "agent:\n  linger: 5s\nresources:\n  cluster:\n    backend: slurm\n"
        f"    partition: {partition}\n    spool: {folder / 'spool'}\n"
        + "".join(f"    {name}_command: {shims / name}\n" for name in QUERIES)
        + "    max_cores: 2\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
        f"    max_walltime: 1h\n    architecture: [{os.uname().machine}]\n")


def environment(folder: Path, caller: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LRMS_NO_AGENT"}
    env.update(LRMS_TEST_CALLER=caller, LRMS_CONFIG=str(folder / "site.yaml"),
               LRMS_STORE=str(folder / "jobs.db"), XDG_STATE_HOME=str(folder / "state"))
    return env


def submit(folder: Path, jobs: int) -> None:
    subprocess.run([LRMS, "--no-agent", "submit", "--params", "-", "--", "sleep", "{}"],
                   input="5\n" * jobs, text=True, cwd=folder, check=True, capture_output=True,
                   env=environment(folder, "submit"))


def counted(folder: Path) -> collections.Counter[str]:
    path = folder / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return collections.Counter(line.split()[0] for line in lines)


def cancel_all(folder: Path) -> None:
    subprocess.run([LRMS, "--no-agent", "cancel", "--all-active"], cwd=folder,
                   capture_output=True, check=False, env=environment(folder, "cancel"))
    subprocess.run([LRMS, "--no-agent", "clean", "--force", "--all-terminated"], cwd=folder,
                   capture_output=True, check=False, env=environment(folder, "cancel"))


def alone(folder: Path, jobs: int, seconds: float) -> collections.Counter[str]:
    submit(folder, jobs)
    counted(folder)
    subprocess.run([sys.executable, "-c", WAIT_ALONE, str(seconds)], cwd=folder, check=True,
                   env=environment(folder, "alone"))
    calls = counted(folder)
    cancel_all(folder)
    return calls


def with_agent(folder: Path, jobs: int, seconds: float) -> collections.Counter[str]:
    submit(folder, jobs)
    counted(folder)
    subprocess.run([LRMS, "agent", "start"], cwd=folder, check=True, capture_output=True,
                   env=environment(folder, "agent"))
    waits = [subprocess.Popen([LRMS, "wait"], cwd=folder, stderr=subprocess.DEVNULL,
                              env=environment(folder, f"wait{i}")) for i in range(4)]
    time.sleep(seconds)
    for wait in waits:
        wait.send_signal(signal.SIGINT)
        wait.wait(timeout=60)
    subprocess.run([LRMS, "agent", "stop"], cwd=folder, capture_output=True, check=False,
                   env=environment(folder, "agent"))
    calls = counted(folder)
    cancel_all(folder)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    slurm = start_service("start-slurm.sh", "/tmp/lrms-slurm.env")
    with tempfile.TemporaryDirectory(prefix="lrms-bench-") as tmp:
        folder = Path(tmp)
        setup(folder, slurm["LRMS_SLURM_PARTITION"])
        first = alone(folder, args.jobs, args.seconds)
        second = with_agent(folder, args.jobs, args.seconds)
    print(f"{args.jobs} jobs, {args.seconds:.0f} s each, poll interval 15 s (default)")
    print(f"  one poller alone:        {sum(first.values()):3d} squeue/sacct calls  "
          f"{dict(first)}")
    print(f"  agent + 4 lrms wait:     {sum(second.values()):3d} squeue/sacct calls  "
          f"{dict(second)}")
    print(f"  goal: at most {sum(first.values()) + 1}: "
          f"{'met' if sum(second.values()) <= sum(first.values()) + 1 else 'missed'}")


if __name__ == "__main__":
    main()
