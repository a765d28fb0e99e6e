"""A sweep of trivial tasks on the local Slurm: as job arrays, and one ``sbatch`` per task.

Runs N ``true`` tasks through ``LRMS.submit_jobs`` (Slurm arrays, split at the
cluster's MaxArraySize), waits for all of them, then does the same with one
``submit_job`` (one ``sbatch``) per task, in the same run.  For each way it
prints the scheduler commands of the submission, the most commands one status
poll (``update_job_states`` over all tasks) ran, the seconds the submission
took and the seconds from the first submission to the last task done.  Goals
for 1,000 tasks: at most 3 ``sbatch`` calls, a poll of at most 2 scheduler
commands, and arrays faster end to end.

    python bench/slurm_arrays.py [--tasks 1000] [--partition debug] [--interval 0.25]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import lrms

SCHEDULER = ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo")


class Counting:
    """Wraps a resource's ``transport.run`` to count the scheduler commands it runs."""

    def __init__(self, res: lrms.LRMS) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.real = res.transport.run
        res.transport.run = self.run  # type: ignore[method-assign]

    def run(self, argv: Sequence[str], **kwargs: Any) -> Any:
        name = next((os.path.basename(a) for a in argv if os.path.basename(a) in SCHEDULER),
                    os.path.basename(argv[0]))
        self.calls[name] += 1
        return self.real(argv, **kwargs)

    def during(self, function: Callable[[], Any]) -> tuple[Any, collections.Counter[str]]:
        """``function()``'s result and the commands it ran."""
        before = collections.Counter(self.calls)
        result = function()
        return result, self.calls - before


def sweep(res: lrms.LRMS, counting: Counting, count: int, arrays: bool,
          interval: float) -> dict[str, Any]:
    """Submit ``count`` tasks (as arrays or one by one), poll until all ended."""
    apps = [lrms.Application(["true", str(i)], requested_memory="50MiB") for i in range(count)]
    jobs = [lrms.Job(app) for app in apps]
    started = time.perf_counter()
    if arrays:
        _, submitted = counting.during(lambda: res.submit_jobs(apps, jobs))
    else:
        _, submitted = counting.during(
            lambda: [res.submit_job(a, j) for a, j in zip(apps, jobs, strict=True)])
    submit_seconds = time.perf_counter() - started
    for job in jobs:
        job.state = lrms.State.SUBMITTED
    worst: collections.Counter[str] = collections.Counter()
    polls, polling = 0, 0.0
    while True:
        asked = time.perf_counter()
        states, ran = counting.during(lambda: res.update_job_states(jobs))
        polling += time.perf_counter() - asked
        polls += 1
        if sum(ran[n] for n in SCHEDULER) > sum(worst[n] for n in SCHEDULER):
            worst = ran
        if all(state == lrms.State.TERMINATED for state in states):
            break
        time.sleep(interval)
    done_seconds = time.perf_counter() - started
    failed = [job for job in jobs if job.exitcode != 0]
    assert not failed, f"{len(failed)} tasks did not exit 0, e.g. {failed[0]}"
    return {"submit": submitted, "poll": worst, "polls": polls, "poll_s": polling,
            "submit_s": submit_seconds,
            "done_s": done_seconds, "arrays": len({job.backend_data.get("array") for job in jobs}),
            "ids": [job.native_id or "" for job in jobs]}


def describe(calls: collections.Counter[str]) -> str:
    scheduler = {name: n for name, n in calls.items() if name in SCHEDULER}
    other = sum(n for name, n in calls.items() if name not in SCHEDULER)
    text = ", ".join(f"{n} {name}" for name, n in sorted(scheduler.items())) or "none"
    return text + (f" (+{other} other: exit-file reads)" if other else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--partition", default="debug")
    parser.add_argument("--interval", type=float, default=0.25,
                        help="seconds between status polls (both ways)")
    args = parser.parse_args()
    figures: dict[str, dict[str, Any]] = {}
    # The spool sits where the default one does (the home directory).
    with tempfile.TemporaryDirectory(dir=os.path.expanduser("~"), prefix=".lrms-bench-") as spool:
        res = lrms.LRMS("bench", ["x86_64"], 2, 1, "1GiB", "1h", backend="slurm",
                        partition=args.partition, spool=spool)
        counting = Counting(res)
        try:
            for way, arrays in (("arrays", True), ("one sbatch per task", False)):
                try:
                    figures[way] = sweep(res, counting, args.tasks, arrays, args.interval)
                finally:
                    ids = figures.get(way, {}).get("ids", [])
                    for start in range(0, len(ids), 500):
                        subprocess.run(["scancel", *ids[start:start + 500]], check=False)
        finally:
            res.close()
    print(f"tasks={args.tasks} 'true' each way, polled every {args.interval}s, same run")
    for way, got in figures.items():
        print(f"{way}:")
        print(f"  submission      : {got['submit_s']:7.2f} s, {describe(got['submit'])}"
              + (f" ({got['arrays']} arrays)" if way == "arrays" else ""))
        print(f"  busiest poll    : {describe(got['poll'])}")
        print(f"  polls           : {got['polls']}, {got['poll_s']:.2f} s in all")
        print(f"  submit -> done  : {got['done_s']:7.2f} s")
    arrays, single = figures["arrays"], figures["one sbatch per task"]
    print(f"end to end, arrays vs one sbatch per task: {arrays['done_s']:.2f} s vs "
          f"{single['done_s']:.2f} s ({single['done_s'] / arrays['done_s']:.1f}x faster); "
          f"goals: <= 3 sbatch ({arrays['submit']['sbatch']}), a poll <= 2 scheduler commands "
          f"({sum(arrays['poll'][n] for n in SCHEDULER)})")


if __name__ == "__main__":
    main()
