"""Cost of one Engine round over many active jobs on one Slurm resource.

Submits N jobs through ``lrms.Engine`` to the local test Slurm cluster, held
back with ``--begin=now+1hour`` so that all of them stay active, then times
``Engine.progress()`` (refresh of every active job, store updates included)
and counts the ``update_job_states`` calls and the Slurm commands of a round
(target: one batched query for 1,000 jobs).  For comparison it times the
facade's per-job ``update_job_state`` on a sample and scales it to N.
The jobs are cancelled at the end.

    python bench/engine_refresh.py [--jobs 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from _common import start_service, timed

import lrms
from lrms.transport import CommandResult, LocalTransport

SCHEDULER = ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo")


class Counter:
    """Counts update_job_states calls (a wrapper plugin) and Slurm commands run locally."""

    def __init__(self) -> None:
        self.queries = 0
        self.commands = 0
        original = LocalTransport.run

        def run(transport: LocalTransport, argv: Sequence[str], **kwargs: Any) -> CommandResult:
            self.commands += any(str(arg).rsplit("/", 1)[-1] in SCHEDULER for arg in argv)
            return original(transport, argv, **kwargs)

        LocalTransport.run = run  # type: ignore[method-assign]

    @lrms.hookimpl(wrapper=True)
    def update_job_states(self, jobs: Sequence[lrms.Job]) -> Any:
        self.queries += 1
        return (yield)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = start_service("start-slurm.sh", "/tmp/lrms-slurm.env")
    counter = Counter()
    lrms.register(counter)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "site.yaml")
        config.write_text(yaml.safe_dump({"resources": {"cluster": {
            "backend": "slurm", "partition": env["LRMS_SLURM_PARTITION"], "max_cores": 4096,
            "max_cores_per_job": 1, "max_memory_per_core": "1GiB", "max_walltime": "1h",
            "architecture": ["x86_64"], "spool": str(Path(tmp, "spool")),
            "extra_args": ["--begin=now+1hour"]}}}))
        engine = lrms.Engine(str(config), Path(tmp, "jobs.db"), max_in_flight=args.jobs,
                             output_root=Path(tmp, "out"))
        try:
            engine.add([lrms.Application(["true"])] * args.jobs)
            started = time.perf_counter()
            submitted = len(engine.progress().submitted)
            print(f"submitted {submitted} jobs in {time.perf_counter() - started:.1f} s")
            counter.queries = counter.commands = 0
            per_round = timed(engine.progress, args.repeat)
            active = len(engine.jobs(states=[lrms.State.SUBMITTED, lrms.State.STOPPED]))
            print(f"round over {active} active jobs: {per_round * 1000:.0f} ms (median of "
                  f"{args.repeat}); per round {counter.queries / args.repeat:.0f} "
                  f"update_job_states call(s), {counter.commands / args.repeat:.0f} Slurm "
                  "command(s)")
            resource = engine.resource("cluster")
            sample = engine.jobs()[:50]
            one_by_one = timed(lambda: [resource.update_job_state(job) for job in sample], 1)
            scaled = one_by_one / len(sample) * args.jobs
            print(f"one job at a time: {one_by_one / len(sample) * 1000:.1f} ms/job, "
                  f"{scaled:.1f} s for {args.jobs} jobs ({scaled / per_round:.0f}x the round)")
        finally:
            subprocess.run(["scancel", "--quiet", *[job.native_id or "" for job in engine.jobs()
                                                    if job.native_id]], check=False)
            engine.close()


if __name__ == "__main__":
    main()
