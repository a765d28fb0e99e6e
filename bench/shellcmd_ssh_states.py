"""State of many shellcmd jobs on an SSH host: one batched query vs per-job polling.

Starts the project's test sshd (tests/services/start-sshd.sh), submits N
trivial jobs to a shellcmd resource on it (as the unprivileged test user),
waits for them, then times reading all their states with one
``update_job_states`` call, next to one bare remote command (a single round
trip) and to asking about each job separately.

    python bench/shellcmd_ssh_states.py [--jobs 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import uuid

from _common import test_sshd, timed

import lrms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env, auth = test_sshd()
    res = lrms.LRMS("bench", [lrms.Arch.local()], args.jobs, 1, "1GiB", "1h", auth,
                    backend="shellcmd", transport="ssh", frontend=env["LRMS_SSHD_HOST"],
                    port=int(env["LRMS_SSHD_PORT"]), spool=f"~/lrms-bench/{uuid.uuid4().hex[:8]}")
    try:
        app = lrms.Application(["true"])
        started = time.perf_counter()
        jobs = []
        for _ in range(args.jobs):
            job = res.submit_job(app, lrms.Job(app))
            job.state = lrms.State.SUBMITTED
            jobs.append(job)
        submit_time = time.perf_counter() - started
        while any(s != lrms.State.TERMINATED for s in res.update_job_states(jobs)):
            time.sleep(0.2)

        def batched() -> None:
            for job in jobs:
                job.state = lrms.State.RUNNING  # make the facade ask again
            res.update_job_states(jobs)

        def per_job() -> None:
            for job in jobs[:20]:
                job.state = lrms.State.RUNNING
                res.update_job_state(job)

        round_trip = timed(lambda: res.transport.run(["true"]), args.repeat * 4)
        batch = timed(batched, args.repeat)
        single = timed(per_job, args.repeat) / 20
        print(f"jobs={args.jobs} repeat={args.repeat} (medians)")
        print(f"submit over ssh            : {submit_time / args.jobs * 1000:8.2f} ms/job")
        print(f"one remote command (true)  : {round_trip * 1000:8.2f} ms")
        print(f"state of {args.jobs} jobs, batched: {batch * 1000:8.2f} ms "
              f"({batch / round_trip:.1f} round trips of `true`)")
        print(f"state per job, one by one  : {single * 1000:8.2f} ms/job -> "
              f"{single * args.jobs * 1000:.0f} ms for {args.jobs} jobs "
              f"({single * args.jobs / batch:.0f}x the batched query)")
        for job in jobs:
            res.free(job)
        res.transport.remove(res.backend.spool, recursive=True)
    finally:
        res.close()


if __name__ == "__main__":
    main()
