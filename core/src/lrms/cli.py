"""The ``lrms`` command line.

Exit codes: 0 success; 1 the job failed (``run`` exits with the job's own
return code: its exit code, or 128+N if killed by signal N); 2 usage or
configuration error; 3 resource, backend or transport error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

EXIT_USAGE = 2
EXIT_RESOURCE = 3

EPILOG_RUN = """\
examples:
  lrms run -- echo hello
  lrms run --cores 2 --memory 1GiB --walltime 10min -- python3 sim.py --n 10
  lrms run --input data.csv --output result.json -- python3 analyse.py data.csv
  lrms run --resource cluster --config site.yaml -- ./job.sh

The command is an argv: it is never passed through a shell, so
  lrms run -- echo '$(id)' '; rm -rf ~'
prints those strings literally.  Use "--" before the command.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrms",
        description="Run jobs on batch systems and shell hosts, locally or over SSH.",
        epilog="Exit codes: 0 ok, 1 job failed, 2 usage/config error, "
        "3 resource/transport error.  'lrms COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="store_true",
                        help="show the version of lrms and of each installed backend")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info, -vv debug)")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $LRMS_CONFIG, then "
                        "~/.config/lrms/config.yaml, then a built-in localhost resource)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    backends = commands.add_parser(
        "backends", help="list installed backends",
        description="List the installed backends (from package metadata, without importing).",
        epilog="example:\n  lrms backends --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    backends.add_argument("--json", action="store_true", help="print JSON")

    run = commands.add_parser(
        "run", help="run one command as a job and wait for it",
        description="Submit COMMAND as a job, wait for it, fetch its outputs, print its "
        "stdout and stderr, free its sandbox, and exit with its return code.",
        epilog=EPILOG_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--resource", "-r", metavar="NAME",
                     help="resource to use (default: $LRMS_RESOURCE, else the first configured)")
    run.add_argument("--cores", "-c", type=int, default=1, metavar="N", help="cores (default 1)")
    run.add_argument("--memory", "-m", metavar="SIZE", help="total memory, e.g. 2GiB")
    run.add_argument("--walltime", "-t", metavar="TIME", help="time limit, e.g. 30min, 2h, 1:00:00")
    run.add_argument("--input", "-i", action="append", default=[], metavar="FILE",
                     help="file or directory to copy into the job's sandbox (repeatable)")
    run.add_argument("--output", "-o", action="append", default=[], metavar="NAME",
                     help="sandbox file or directory to fetch back (repeatable)")
    run.add_argument("--output-dir", "-d", default=".", metavar="DIR",
                     help="where fetched outputs go (default: current directory)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace existing local files with fetched outputs")
    run.add_argument("--env", "-e", action="append", default=[], metavar="NAME=VALUE",
                     help="environment variable for the job (repeatable)")
    run.add_argument("--name", "-n", metavar="NAME", help="job name")
    run.add_argument("--keep", action="store_true", help="keep the job's sandbox afterwards")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS...")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="lrms: %(levelname)s: %(name)s: %(message)s")
    if args.version:
        return _version()
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from .errors import ConfigError, LRMSError

    try:
        if args.command == "backends":
            return _backends(args)
        return _run(args, parser)
    except ConfigError as exc:
        print(f"lrms: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LRMSError, ValueError) as exc:
        print(f"lrms: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_RESOURCE


def _version() -> int:
    from . import __version__
    from .backends import list_backends

    print(f"lrms {__version__}")
    for info in list_backends():
        print(f"{info.name}: {info.distribution} {info.version}")
    return 0


def _backends(args: argparse.Namespace) -> int:
    import json

    from .backends import list_backends

    infos = list_backends()
    if args.json:
        print(json.dumps([info.__dict__ for info in infos], indent=2))
        return 0
    if not infos:
        print("No backend is installed. Install one, e.g.: pip install lrms-shellcmd "
              "(or lrms-slurm, lrms-sge, lrms-pbs).")
        return 0
    width = max(len(info.name) for info in infos)
    for info in infos:
        print(f"{info.name:<{width}}  {info.distribution or '?'} {info.version or '?'}  "
              f"({info.target})")
    return 0


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .application import Application
    from .config import load_config
    from .job import Job
    from .state import State

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after '--', e.g. lrms run -- echo hello")
    environment = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--env needs NAME=VALUE, got {item!r}")
        environment[name] = value
    app = Application(
        command, inputs=args.input, outputs=args.output, environment=environment,
        jobname=args.name, requested_cores=args.cores, requested_memory=args.memory,
        requested_walltime=args.walltime)
    if not os.path.isdir(args.output_dir):
        parser.error(f"--output-dir {args.output_dir} does not exist")
    config = load_config(args.config)
    name = args.resource or os.environ.get("LRMS_RESOURCE") or config.resource_names[0]
    resource = config.resource(name)
    try:
        job = resource.submit_job(app, Job(app))
        job.state = State.SUBMITTED
        try:
            _wait(resource, job)
        except KeyboardInterrupt:
            print(f"\nlrms: interrupted: cancelling job {job.jobid}", file=sys.stderr)
            resource.cancel_job(job)
            _wait(resource, job)
        _report(resource, job, args)
        return _exit_code(job)
    finally:
        config.close()


def _wait(resource: Any, job: Any) -> None:
    from .state import State

    delay = 0.02
    while resource.update_job_state(job) != State.TERMINATED:
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _report(resource: Any, job: Any, args: argparse.Namespace) -> None:
    for name, stream in ((job.app.stdout, sys.stdout), (job.app.stderr, sys.stderr)):
        if name == job.app.stderr and job.app.join:
            continue
        stream.flush()
        with contextlib.suppress(FileNotFoundError):
            resource.peek(job, name, stream.buffer)
        stream.flush()
    if job.app.outputs:
        for output in job.app.outputs:
            local = os.path.join(args.output_dir, output)
            if os.path.lexists(local) and not args.overwrite:
                print(f"lrms: kept existing {local} (use --overwrite to replace it)",
                      file=sys.stderr)
        resource.get_results(job, args.output_dir, overwrite=args.overwrite)
    if args.keep:
        print(f"lrms: sandbox kept at {resource.frontend}:{job.sandbox}", file=sys.stderr)
    else:
        resource.free(job)
    reason = job.termination_reason
    if reason is not None and reason.value not in ("exited",):
        print(f"lrms: job {job.jobid} ended: {reason.value}"
              + (f" ({job.status_message})" if job.status_message else ""), file=sys.stderr)


def _exit_code(job: Any) -> int:
    code = job.returncode
    return 1 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main())
