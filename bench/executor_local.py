"""Overhead per future of ``lrms.Executor`` on the built-in local resource, in the same run
as ``concurrent.futures.ProcessPoolExecutor`` and submitit's ``LocalExecutor``.

Each way runs a trivial function: ``--calls`` times one after another (submit, then
wait for the result: the latency of one future) and once as a ``map`` of ``--map``
calls (seconds per call when many are in flight).  lrms and submitit start a new
Python for every call (a job each); the process pool reuses warm workers, so it is
the floor, not a peer.  Prints the medians and lrms's ratio to each.

    python bench/executor_local.py [--calls 20] [--map 100]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import submitit

from lrms.executor import Executor


def square(x: int) -> int:
    return x * x


def latency(submit: Callable[[int], Any], result: Callable[[Any], Any], calls: int) -> float:
    """Median seconds from submit to result of one call, ``calls`` times in a row."""
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        assert result(submit(i)) == i * i
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def throughput(run_map: Callable[[list[int]], list[int]], count: int) -> float:
    """Seconds per call of a map of ``count`` calls."""
    started = time.perf_counter()
    assert run_map(list(range(count))) == [i * i for i in range(count)]
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--map", type=int, default=100)
    args = parser.parse_args()
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lrms-bench-") as work:
        with Executor(store=os.path.join(work, "jobs.db")) as ex:
            ex.submit(square, 0).result()  # start-up (backend load, spool) is not per call
            figures["lrms.Executor"] = (
                latency(lambda i: ex.submit(square, i), lambda f: f.result(), args.calls),
                throughput(lambda xs: list(ex.map(square, xs)), args.map))
        local = submitit.LocalExecutor(folder=os.path.join(work, "submitit"))
        local.update_parameters(timeout_min=10)
        local.submit(square, 0).result()
        figures["submitit LocalExecutor"] = (
            latency(lambda i: local.submit(square, i), lambda job: job.result(), args.calls),
            throughput(lambda xs: [job.result() for job in local.map_array(square, xs)],
                       args.map))
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
            pool.submit(square, 0).result()
            figures["ProcessPoolExecutor (warm)"] = (
                latency(lambda i: pool.submit(square, i), lambda f: f.result(), args.calls),
                throughput(lambda xs: list(pool.map(square, xs)), args.map))
    print(f"trivial calls on this machine ({os.cpu_count()} cores): median of {args.calls} "
          f"submit->result in a row; map of {args.map}")
    for way, (one, each) in figures.items():
        print(f"  {way:28s}: {one * 1000:8.1f} ms per future, {each * 1000:8.1f} ms per call "
              "in a map")
    ours = figures["lrms.Executor"]
    for way, (one, each) in figures.items():
        if way != "lrms.Executor":
            print(f"lrms vs {way}: {ours[0] / one:.2f}x the latency, {ours[1] / each:.2f}x the "
                  "time per call in a map")


if __name__ == "__main__":
    main()
