"""Submit overhead of the Slurm backend next to a plain ``sbatch`` loop, in the same run.

Submits N jobs through a local Slurm resource (sandbox, job script, sbatch
argv, id parsing) and N jobs with a bare ``sbatch --parsable --wrap true``
subprocess loop, alternating in blocks so both see the same controller load,
and prints ms/job for both and their ratio (target: at most 1.3x).  All jobs
are submitted held (``--hold``), so none runs and the shared cluster stays
free; they are cancelled at the end.

    python bench/slurm_submit.py [--jobs 200] [--block 25] [--partition debug]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import lrms


def plain(count: int, partition: str, ids: list[str]) -> float:
    """Seconds for ``count`` bare sbatch calls."""
    argv = ["sbatch", "--parsable", "--hold", f"--partition={partition}", "--mem=50M",
            "--output=/dev/null", "--wrap", "true"]
    started = time.perf_counter()
    for _ in range(count):
        ids.append(subprocess.run(argv, capture_output=True, check=True).stdout.split(b";")[0]
                   .strip().decode())
    return time.perf_counter() - started


def through_lrms(res: lrms.LRMS, count: int, ids: list[str]) -> float:
    """Seconds for ``count`` submissions through the backend."""
    app = lrms.Application(["true"], requested_memory="50MiB",
                           extra={"slurm": {"extra_args": ["--hold"]}})
    started = time.perf_counter()
    for _ in range(count):
        ids.append(res.submit_job(app, lrms.Job(app)).native_id or "")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--block", type=int, default=25)
    parser.add_argument("--partition", default="debug")
    args = parser.parse_args()
    ids: list[str] = []
    bare = ours = 0.0
    # The spool sits where the default one does (the home directory).
    with tempfile.TemporaryDirectory(dir=os.path.expanduser("~"), prefix=".lrms-bench-") as spool:
        res = lrms.LRMS("bench", ["x86_64"], 2, 1, "1GiB", "1h", backend="slurm",
                        partition=args.partition, spool=spool)
        try:
            through_lrms(res, 1, ids)  # resolve the spool once, as any long-lived user does
            for done in range(0, args.jobs, args.block):
                block = min(args.block, args.jobs - done)
                bare += plain(block, args.partition, ids)
                ours += through_lrms(res, block, ids)
        finally:
            for start in range(0, len(ids), 500):
                subprocess.run(["scancel", *ids[start:start + 500]], check=False)
            res.close()
    per_bare, per_ours = bare / args.jobs * 1000, ours / args.jobs * 1000
    print(f"jobs={args.jobs} each way, alternating blocks of {args.block}, all held then cancelled")
    print(f"plain sbatch loop     : {per_bare:7.2f} ms/job")
    print(f"lrms slurm submit_job : {per_ours:7.2f} ms/job  (sandbox, job script, sbatch)")
    print(f"overhead              : {per_ours - per_bare:7.2f} ms/job")
    print(f"ratio lrms/plain      : {per_ours / per_bare:7.2f}x (target <= 1.3)")


if __name__ == "__main__":
    main()
