"""Throughput of the shellcmd backend next to the bare fork/exec floor.

Pushes N trivial jobs (``/bin/true``) through a local shellcmd resource with
K in flight (submit, poll states until TERMINATED), then does the same with
plain ``posix_spawn`` + ``waitpid`` of ``/bin/true``, K at a time, in the same
run, and prints ms/job for both and the difference (target: within 3 ms/job).
Jobs stay fully detached: each is run by the wrapper, in its own session, with
its outcome in files that a later process can read.

    python bench/shellcmd_throughput.py [--jobs 100] [--in-flight 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import lrms


def floor(jobs: int, in_flight: int) -> float:
    """Seconds to run ``jobs`` bare /bin/true processes, ``in_flight`` at a time."""
    started = time.perf_counter()
    running: set[int] = set()
    done = 0
    while done < jobs:
        while len(running) < in_flight and done + len(running) < jobs:
            running.add(os.posix_spawn("/bin/true", ["/bin/true"], os.environ))
        pid, _ = os.waitpid(-1, 0)
        running.discard(pid)
        done += 1
    return time.perf_counter() - started


def through_lrms(jobs: int, in_flight: int, spool: str) -> tuple[float, float]:
    """Seconds for ``jobs`` trivial jobs through shellcmd, and seconds to free them."""
    res = lrms.LRMS("bench", [lrms.Arch.local()], in_flight, 1, "1GiB", "1h",
                    backend="shellcmd", spool=spool)
    app = lrms.Application(["/bin/true"])
    finished: list[lrms.Job] = []
    running: list[lrms.Job] = []
    started = time.perf_counter()
    submitted = 0
    while len(finished) < jobs:
        while len(running) < in_flight and submitted < jobs:
            job = res.submit_job(app, lrms.Job(app))
            job.state = lrms.State.SUBMITTED
            running.append(job)
            submitted += 1
        res.update_job_states(running)
        still = [job for job in running if job.state != lrms.State.TERMINATED]
        finished.extend(job for job in running if job.state == lrms.State.TERMINATED)
        if len(still) == len(running):
            time.sleep(0.0002)
        running = still
    elapsed = time.perf_counter() - started
    assert all(job.exitcode == 0 for job in finished), "a trivial job failed"
    t0 = time.perf_counter()
    for job in finished:
        res.free(job)
    res.close()
    return elapsed, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    floors, runs, frees = [], [], []
    # The spool sits where the default one does (the home directory): on this
    # machine mkdir under /tmp costs ~0.5 ms against ~0.02 ms under /root.
    with tempfile.TemporaryDirectory(dir=os.path.expanduser("~"), prefix=".lrms-bench-") as spool:
        for _ in range(args.repeat):
            floors.append(floor(args.jobs, args.in_flight) / args.jobs * 1000)
            elapsed, freed = through_lrms(args.jobs, args.in_flight, spool)
            runs.append(elapsed / args.jobs * 1000)
            frees.append(freed / args.jobs * 1000)
    best_floor, best_run = min(floors), min(runs)
    print(f"jobs={args.jobs} in_flight={args.in_flight} repeat={args.repeat} (best of runs)")
    print(f"floor  fork/exec /bin/true : {best_floor:7.3f} ms/job  "
          f"(median {statistics.median(floors):.3f})")
    print(f"lrms   shellcmd /bin/true  : {best_run:7.3f} ms/job  "
          f"(median {statistics.median(runs):.3f})")
    print(f"difference                 : {best_run - best_floor:7.3f} ms/job (target <= 3)")
    print(f"ratio lrms/floor           : {best_run / best_floor:7.2f}x")
    print(f"free() per job             : {min(frees):7.3f} ms/job (not in the figures above)")


if __name__ == "__main__":
    main()
