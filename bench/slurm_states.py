"""Time to learn the state of many Slurm jobs: one batched poll next to per-job polling.

Runs N trivial jobs (``sh -c 'exit K'``, K = 0..3) on the local Slurm cluster
and waits until they have finished, then times, in the same run:

* the batched poll: ``update_job_states(all N jobs)`` (target: at most 2
  scheduler commands, under 0.5 s for 500 jobs);
* the same API one job at a time (``update_job_state`` per job);
* the bare floor of per-job polling: one ``squeue -j ID`` subprocess per job.

Each poll starts from copies of the jobs in state SUBMITTED, so each one asks
about all of them.  The scheduler commands of a poll are counted by a
recording transport.

    python bench/slurm_states.py [--jobs 500] [--repeat 3] [--partition debug]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import lrms
from lrms.transport import CommandResult, LocalTransport

SCHEDULER = ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo")


class Counting(LocalTransport):
    """The local transport, counting the Slurm commands it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduler_commands = 0

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.scheduler_commands += any(arg in SCHEDULER for arg in argv)
        return super().run(argv, **kwargs)


def fresh(jobs: list[lrms.Job]) -> list[lrms.Job]:
    """Copies of ``jobs`` that have not been asked about yet."""
    copies = [lrms.Job.from_dict(job.to_dict()) for job in jobs]
    for job in copies:
        job.state = lrms.State.SUBMITTED
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partition", default="debug")
    args = parser.parse_args()
    transport = Counting()
    with tempfile.TemporaryDirectory(dir=os.path.expanduser("~"), prefix=".lrms-bench-") as spool:
        res = lrms.LRMS("bench", ["x86_64"], 2, 1, "1GiB", "1h", backend="slurm",
                        transport=transport, partition=args.partition, spool=spool)
        jobs: list[lrms.Job] = []
        try:
            for n in range(args.jobs):
                app = lrms.Application(["sh", "-c", f"exit {n % 4}"], requested_memory="50MiB")
                job = res.submit_job(app, lrms.Job(app))
                job.state = lrms.State.SUBMITTED
                jobs.append(job)
            started = time.perf_counter()
            while set(res.update_job_states(jobs)) != {lrms.State.TERMINATED}:
                time.sleep(1)
            ran = time.perf_counter() - started
            time.sleep(2)  # let accounting catch up, so every poll below sees the same
            batched, commands = [], []
            for _ in range(args.repeat):
                copies = fresh(jobs)
                transport.scheduler_commands = 0
                t0 = time.perf_counter()
                states = res.update_job_states(copies)
                batched.append(time.perf_counter() - t0)
                commands.append(transport.scheduler_commands)
                assert set(states) == {lrms.State.TERMINATED}, set(states)
                assert [job.exitcode for job in copies] == [n % 4 for n in range(args.jobs)]
            copies = fresh(jobs)
            transport.scheduler_commands = 0
            t0 = time.perf_counter()
            for job in copies:
                res.update_job_state(job)
            one_by_one = time.perf_counter() - t0
            per_job_commands = transport.scheduler_commands
            t0 = time.perf_counter()
            for job in jobs:
                subprocess.run(["squeue", "--noheader", "--states=all", "--format=%i|%T",
                                f"--jobs={job.native_id}"], capture_output=True, check=True)
            bare = time.perf_counter() - t0
        finally:
            ids = [job.native_id or "" for job in jobs]
            for start in range(0, len(ids), 500):
                subprocess.run(["scancel", *ids[start:start + 500]], check=False)
            res.close()
    best = min(batched)
    print(f"jobs={args.jobs} (finished; they ran in {ran:.1f} s), batched poll repeated "
          f"{args.repeat}x")
    print(f"batched update_job_states : {best:7.3f} s  (median {statistics.median(batched):.3f}),"
          f" {max(commands)} scheduler commands (target: <= 2 commands, < 0.5 s)")
    print(f"update_job_state per job  : {one_by_one:7.3f} s, {per_job_commands} scheduler "
          f"commands")
    print(f"bare squeue -j per job    : {bare:7.3f} s, {args.jobs} scheduler commands")
    print(f"speed-up batched vs bare per-job squeue : {bare / best:7.1f}x")
    print(f"speed-up batched vs API per job         : {one_by_one / best:7.1f}x")


if __name__ == "__main__":
    main()
