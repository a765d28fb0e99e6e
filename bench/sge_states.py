"""State of many Grid Engine jobs: one batched query vs per-job polling, on the real cell.

Starts the project's Grid Engine cell (tests/services/start-sge.sh), submits N
held jobs (they stay pending and take no slot from other users of the cell)
and times learning all their states with one ``update_job_states`` call
(``qstat -xml``: one command) next to asking about each job separately.
Then it releases a smaller set of trivial jobs, waits for them to finish,
and times the same for finished jobs (``qstat -xml`` + one ``qacct`` loop:
two commands).  Every job it submits is deleted at the end.

    python bench/sge_states.py [--jobs 200] [--finished 20] [--repeat 3] [--ssh]

``--ssh`` drives the cell through the project's test sshd (as its test user).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from _common import start_service, test_sshd, timed

import lrms


def resource(ssh: bool, spool: str) -> lrms.LRMS:
    start_service("start-sge.sh", "/tmp/lrms-sge.env")
    if not ssh:
        return lrms.LRMS("bench", [lrms.Arch.local()], 2, 2, "1GiB", "1h", backend="sge",
                         spool=spool)
    env, auth = test_sshd()
    return lrms.LRMS("bench", [lrms.Arch.local()], 2, 2, "1GiB", "1h", auth, backend="sge",
                     transport="ssh", frontend=env["LRMS_SSHD_HOST"],
                     port=int(env["LRMS_SSHD_PORT"]), spool=f"~/lrms-bench/{uuid.uuid4().hex[:8]}")


def commands(res: lrms.LRMS, function: Callable[[], Any]) -> int:
    """How many commands ``function`` runs through the resource's transport."""
    count = 0
    real_run = res.transport.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return real_run(*args, **kwargs)

    res.transport.run = counting_run  # type: ignore[method-assign]
    try:
        function()
    finally:
        del res.transport.run
    return count


def compare(res: lrms.LRMS, label: str, jobs: list[lrms.Job], asked: lrms.State,
            repeat: int) -> None:
    """Print the batched and per-job times of learning the states of ``jobs``."""

    def batched() -> None:
        for job in jobs:
            job.state = asked  # make the facade ask again
        res.update_job_states(jobs)

    def per_job() -> None:
        for job in jobs:
            job.state = asked
            res.update_job_state(job)

    batched()  # warm up (the login user is asked once)
    batch_commands, single_commands = commands(res, batched), commands(res, per_job)
    batch, single = timed(batched, repeat), timed(per_job, repeat)
    states = sorted({job.state.value for job in jobs})
    print(f"{label}: {len(jobs)} jobs, now {'/'.join(states)}")
    print(f"  batched update_job_states : {batch * 1000:9.1f} ms, {batch_commands} command(s)")
    print(f"  per-job update_job_state  : {single * 1000:9.1f} ms, {single_commands} commands "
          f"({single / batch:.0f}x the batched time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--finished", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ssh", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lrms-sge-bench-") as spool:
        res = resource(args.ssh, spool)
        jobs: list[lrms.Job] = []
        try:
            app = lrms.Application(["true"], extra={"sge": {"extra_args": ["-h"]}})
            started = time.perf_counter()
            for _ in range(args.jobs + args.finished):
                job = res.submit_job(app, lrms.Job(app))
                job.state = lrms.State.SUBMITTED
                jobs.append(job)
            per_submit = (time.perf_counter() - started) / len(jobs)
            print(f"transport={'ssh' if args.ssh else 'local'} repeat={args.repeat} (medians); "
                  f"qsub: {per_submit * 1000:.1f} ms/job")
            held, finished = jobs[:args.jobs], jobs[args.jobs:]
            compare(res, "pending (held)", held, lrms.State.SUBMITTED, args.repeat)
            if finished:
                res.transport.check(["qrls", *(job.native_id or "" for job in finished)])
                deadline = time.monotonic() + 300
                while any(s != lrms.State.TERMINATED for s in res.update_job_states(finished)):
                    if time.monotonic() > deadline:
                        raise SystemExit("the released jobs did not finish within 300 s")
                    time.sleep(1)
                compare(res, "finished (qacct)", finished, lrms.State.RUNNING, args.repeat)
        finally:
            ids = [job.native_id or "" for job in jobs if job.state != lrms.State.TERMINATED]
            if ids:
                res.transport.run(["qdel", *ids])
            if args.ssh:
                res.transport.remove(res.backend.spool, recursive=True)
            res.close()


if __name__ == "__main__":
    main()
