"""State of many pbs (torque flavour) jobs: one qstat for all vs one qstat per job.

Runs against Slurm's Torque compatibility wrappers on the test Slurm cluster
(tests/services/start-slurm.sh, then tests/services/setup-torque-wrappers.sh).
Submits N jobs *held* (``qsub -h``: they wait without taking a CPU of the shared
cluster), times reading all their states with one ``update_job_states`` call
(one ``qstat -f id...``) next to asking about each job separately (one ``qstat``
each), then cancels them and times the batched read of the finished jobs (qstat,
then one shell for tracejob and one for the exit-status files).

    python bench/pbs_states.py [--jobs 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import start_service, timed

import lrms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start_service("start-slurm.sh", "/tmp/lrms-slurm.env")
    bin_dir = start_service("setup-torque-wrappers.sh", "/tmp/lrms-torque.env")["LRMS_TORQUE_BIN"]
    commands = {f"{name}_command": f"{bin_dir}/{name}"
                for name in ("qsub", "qstat", "qdel", "pbsnodes")}
    with tempfile.TemporaryDirectory(prefix="lrms-pbs-bench-") as spool:
        res = lrms.LRMS("bench", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                        flavour="torque", spool=spool, **commands)
        jobs: list[lrms.Job] = []
        try:
            app = lrms.Application(["true"], requested_walltime="5min",
                                   extra={"pbs": {"extra_args": ["-h"]}})
            started = time.perf_counter()
            for _ in range(args.jobs):
                job = res.submit_job(app, lrms.Job(app))
                job.state = lrms.State.SUBMITTED
                jobs.append(job)
            submit = time.perf_counter() - started

            def batched() -> None:
                res.update_job_states(jobs)

            def per_job() -> None:
                for job in jobs[:20]:
                    res.update_job_state(job)

            qstat_alone = timed(lambda: res.transport.run([commands["qstat_command"], "-f",
                                                           jobs[0].native_id]), args.repeat * 3)
            batch = timed(batched, args.repeat)
            single = timed(per_job, args.repeat) / 20
            assert all(job.state == lrms.State.SUBMITTED for job in jobs)

            started = time.perf_counter()
            for job in jobs:
                res.cancel_job(job)
            cancel = time.perf_counter() - started
            started = time.perf_counter()
            res.update_job_states(jobs)
            finished = time.perf_counter() - started
            done = sum(job.state == lrms.State.TERMINATED for job in jobs)

            print(f"jobs={args.jobs} repeat={args.repeat} (medians), Slurm's Torque wrappers")
            print(f"qsub (Perl wrapper + sbatch)      : {submit / args.jobs * 1000:8.1f} ms/job")
            print(f"one qstat -f for one job          : {qstat_alone * 1000:8.1f} ms")
            print(f"state of {args.jobs} queued jobs, batched : {batch * 1000:8.1f} ms "
                  f"({batch / qstat_alone:.1f}x one single-job qstat)")
            print(f"state per job, one qstat each     : {single * 1000:8.1f} ms/job -> "
                  f"{single * args.jobs * 1000:.0f} ms for {args.jobs} jobs "
                  f"({single * args.jobs / batch:.0f}x the batched query)")
            print(f"qdel                              : {cancel / args.jobs * 1000:8.1f} ms/job")
            print(f"state of {args.jobs} cancelled jobs, batched: {finished * 1000:8.1f} ms "
                  f"({done} TERMINATED; qstat + tracejob shell + exit-file shell)")
        finally:
            for job in jobs:
                if job.state != lrms.State.TERMINATED:
                    res.cancel_job(job)
            res.close()


if __name__ == "__main__":
    main()
