"""``lrms.Executor.map`` of trivial functions on the local Slurm, next to submitit's
``map_array`` in the same run: scheduler commands and seconds, end to end.

For each size (``--sizes``, default 300 and 1,000) both run ``x * x`` over
``range(size)`` and wait for every result; lrms goes first, then submitit, then
the next size.  Every Slurm command either runs (``sbatch``, ``squeue``,
``sacct``, ``scontrol``, ``scancel``) goes through a counting wrapper put first on
``PATH``, so both are counted the same way.  submitit's ``map_array`` does not split
an array larger than the cluster's MaxArraySize (its ``sbatch`` fails), so it is
called once per MaxArraySize calls; lrms splits by itself.  Goal: lrms at most
as slow as submitit, with no more scheduler commands.

    python bench/executor_slurm.py [--sizes 300 1000] [--partition debug]
        [--poll-interval SECONDS]
"""

from __future__ import annotations

import argparse
import collections
import os
import stat
import subprocess
import sys
import tempfile
import time
from typing import Any

import submitit
import yaml

from lrms.executor import Executor

COMMANDS = ("sbatch", "squeue", "sacct", "scontrol", "scancel")


def square(x: int) -> int:
    return x * x


def counting_path(work: str, log: str) -> str:
    """A directory of wrappers that log their name to ``log``, then run the real command."""
    folder = os.path.join(work, "bin")
    os.makedirs(folder)
    for name in COMMANDS:
        real = subprocess.run(["which", name], capture_output=True, text=True,
                              check=True).stdout.strip()
        path = os.path.join(folder, name)
        with open(path, "w") as script:
            script.write(f'#!/bin/sh\necho {name} >> "{log}"\nexec "{real}" "$@"\n')
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return folder


def counted(log: str) -> collections.Counter[str]:
    with open(log) as lines:
        return collections.Counter(line.strip() for line in lines if line.strip())


def with_lrms(work: str, size: int, partition: str, poll: float | None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "backend": "slurm", "partition": partition, "max_cores": 2, "max_cores_per_job": 1,
        "max_memory_per_core": "1GiB", "max_walltime": "1h", "architecture": ["x86_64"],
        "spool": os.path.join(work, f"spool-{size}")}
    if poll is not None:
        section["poll_interval"] = poll
    config = os.path.join(work, f"site-{size}.yaml")
    with open(config, "w") as out:
        yaml.safe_dump({"resources": {"slurm": section}}, out)
    started = time.perf_counter()
    with Executor(config, store=os.path.join(work, f"jobs-{size}.db"),
                  python=sys.executable) as ex:
        assert list(ex.map(square, range(size))) == [x * x for x in range(size)]
    return {"seconds": time.perf_counter() - started}


def max_array_size() -> int:
    """The cluster's MaxArraySize (read before the counting starts)."""
    shown = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                           check=True).stdout
    return int(next(line.split("=")[1] for line in shown.splitlines()
                    if line.startswith("MaxArraySize")))


def with_submitit(work: str, size: int, partition: str, largest: int) -> dict[str, Any]:
    """submitit's map_array, called once per ``largest`` calls: it does not split an
    array the cluster's MaxArraySize refuses (sbatch fails)."""
    executor = submitit.AutoExecutor(folder=os.path.join(work, f"submitit-{size}"),
                                     cluster="slurm")
    executor.update_parameters(slurm_partition=partition, timeout_min=60, mem_gb=1,
                               cpus_per_task=1)
    started = time.perf_counter()
    jobs = [job for first in range(0, size, largest)
            for job in executor.map_array(square, range(first, min(size, first + largest)))]
    assert [job.result() for job in jobs] == [x * x for x in range(size)]
    return {"seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--partition", default="debug")
    parser.add_argument("--poll-interval", type=float, default=None,
                        help="the Slurm resource's poll_interval for lrms (default: the "
                             "backend's)")
    args = parser.parse_args()
    rows = []
    largest = max_array_size()  # task indices 0 .. MaxArraySize - 1
    # Slurm runs the jobs as this user on this host: the work folder sits in the home
    # directory, as a default spool does.
    with tempfile.TemporaryDirectory(dir=os.path.expanduser("~"), prefix=".lrms-bench-") as work:
        log = os.path.join(work, "commands.log")
        open(log, "w").close()
        os.environ["PATH"] = counting_path(work, log) + os.pathsep + os.environ["PATH"]
        for size in args.sizes:
            for way in ("lrms.Executor.map", "submitit map_array"):
                before = counted(log)
                figures = (with_lrms(work, size, args.partition, args.poll_interval)
                           if way == "lrms.Executor.map"
                           else with_submitit(work, size, args.partition, largest))
                figures["commands"] = counted(log) - before
                rows.append((size, way, figures))
                print(f"{size:5d} {way:20s}: {figures['seconds']:7.1f} s, "
                      f"{describe(figures['commands'])}", flush=True)
    print(f"x*x over range(N) on the local Slurm (partition {args.partition}), same run; "
          f"lrms poll_interval: {args.poll_interval or 'the backend default'}; submitit's "
          f"map_array called per {largest} calls (MaxArraySize)")
    for size in args.sizes:
        ours, theirs = (figures for n, _, figures in rows if n == size)
        print(f"N={size}: lrms {ours['seconds']:.1f} s / {sum(ours['commands'].values())} "
              f"commands vs submitit {theirs['seconds']:.1f} s / "
              f"{sum(theirs['commands'].values())} commands: "
              f"{theirs['seconds'] / ours['seconds']:.2f}x as fast")


def describe(commands: collections.Counter[str]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(commands.items())) or "none"


if __name__ == "__main__":
    main()
