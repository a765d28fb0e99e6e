"""``lrms status --no-refresh`` over a store of many terminated jobs.

Fills a job store with N terminated jobs (``JobStore.add`` in batches of
1,000; each job has a history, an exit code, a walltime and three outputs),
then times, as subprocesses of the installed script, ``lrms status
--no-refresh`` (the table), the same with ``--json``, ``--tag`` (a tenth of
the jobs), ``--state failed`` and ``--limit 20``, next to ``python -c pass``
(target: the table and the JSON of 10,000 jobs in 250 ms or less).  Then
splits the table's cost in this process: reading the rows (``JobStore.jobs``:
SQL plus ``Job.from_json``) and rendering them.

    python bench/cli_status.py [--jobs 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import timed

import lrms
from lrms.cli.render import counts, job_table

LRMS = str(Path(sys.executable).parent / "lrms")
TARGET_MS = 250


def fill(path: str, count: int) -> float:
    """Add ``count`` terminated jobs to the store at ``path``; seconds taken."""
    started = time.perf_counter()
    with lrms.JobStore(path) as store:
        batch: list[lrms.Job] = []
        for n in range(count):
            app = lrms.Application(["python3", "sim.py", "--seed", str(n)],
                                   outputs=["result.json", "stdout", "stderr"],
                                   jobname=f"sim-{n}", requested_walltime="1h")
            job = lrms.Job(app)
            job.resource, job.native_id = "cluster", str(100000 + n)
            job.sandbox, job.tag = f"/scratch/lrms/jobs/{job.jobid}", f"sweep-{n % 10}"
            job.output_dir = f"/home/user/lrms-output/{job.jobid}"
            for state in (lrms.State.SUBMITTED, lrms.State.RUNNING, lrms.State.TERMINATED):
                job.state = state
            job.record_outcome(exitcode=int(n % 7 == 0), reason=lrms.TerminationReason.EXITED,
                               walltime=lrms.Duration(60 + n % 300))
            batch.append(job)
            if len(batch) == 1000:
                store.add(batch)
                batch = []
        if batch:
            store.add(batch)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = os.path.join(scratch, "jobs.db")
        print(f"filled a store with {args.jobs} terminated jobs in {fill(store, args.jobs):.2f} s "
              f"({os.path.getsize(store) / 1e6:.1f} MB)")
        env = {**os.environ, "LRMS_STORE": store, "HOME": scratch}

        def command(*words: str) -> None:
            subprocess.run([LRMS, *words], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=True)

        cases = {
            "python -c pass": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
            "lrms status --no-refresh (table)": lambda: command("status", "--no-refresh"),
            "lrms status --no-refresh --json": lambda: command("status", "--no-refresh",
                                                               "--json"),
            "lrms status --no-refresh --tag sweep-3": lambda: command(
                "status", "--no-refresh", "--tag", "sweep-3"),
            "lrms status --no-refresh --state failed": lambda: command(
                "status", "--no-refresh", "--state", "failed"),
            "lrms status --no-refresh --limit 20": lambda: command(
                "status", "--no-refresh", "--limit", "20"),
        }
        medians = {name: timed(case, args.repeat) for name, case in cases.items()}
        base = medians["python -c pass"]
        print(f"median of {args.repeat} runs, {args.jobs} jobs:")
        for name, seconds in medians.items():
            print(f"  {name:<42} {seconds * 1000:8.1f} ms   x{seconds / base:6.1f} bare python")
        for name in ("lrms status --no-refresh (table)", "lrms status --no-refresh --json"):
            ms = medians[name] * 1000
            print(f"{name}, {args.jobs} jobs: {ms:.0f} ms (target <= {TARGET_MS} ms: "
                  f"{'met' if ms <= TARGET_MS else 'NOT met'})")

        with lrms.JobStore(store) as opened:
            jobs: list[lrms.Job] = []

            def load() -> None:
                jobs[:] = opened.jobs()

            read = timed(load, args.repeat)
            render = timed(lambda: job_table(jobs, False) + counts(jobs), args.repeat)
        print(f"in one process: JobStore.jobs() {read * 1000:.0f} ms "
              f"({read / args.jobs * 1e6:.1f} us/job), rendering {render * 1000:.0f} ms "
              f"({render / args.jobs * 1e6:.1f} us/job)")


if __name__ == "__main__":
    main()
