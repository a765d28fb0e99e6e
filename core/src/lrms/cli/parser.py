"""The argument parser of ``lrms``: every command, its options, description and examples.

Each command's handler is named by ``handler="module:function"`` (a module of
this package), imported only when the command runs, so ``lrms --help`` stays
fast.  The Sphinx CLI reference is generated from :func:`build`.
"""

from __future__ import annotations

import argparse
import textwrap

EXIT_CODES = ("exit codes: 0 ok, 1 a job failed, 2 usage, configuration or job-store error\n"
              "(unknown job id, bad store file), 3 resource or transport error or\n"
              "outputs not fetched, 124 'wait --timeout' passed, 130 interrupted\n"
              "(jobs keep running after these two)")
GLOBALS_NOTE = "--config, --store and -v may also be given after the command."


def _epilog(examples: str, notes: str = "") -> str:
    text = "examples:\n" + "\n".join(f"  {line}" if line else "" for line in
                                     examples.strip("\n").splitlines())
    if notes:
        text += "\n\n" + notes.strip("\n")
    return f"{text}\n\n{GLOBALS_NOTE}\n{EXIT_CODES}\n"


def _globals(parser: argparse.ArgumentParser, *, hidden: bool) -> None:
    """--config, --store, -v: documented on the main parser, accepted after a command too."""
    def text(help_text: str) -> str:
        return argparse.SUPPRESS if hidden else help_text

    default: dict[str, object] = {"default": argparse.SUPPRESS} if hidden else {}
    parser.add_argument("--config", metavar="FILE", **default,  # type: ignore[arg-type]
                        help=text("configuration file (default: $LRMS_CONFIG, then "
                                  "~/.config/lrms/config.yaml, then a built-in localhost "
                                  "resource)"))
    parser.add_argument("--store", metavar="PATH", **default,  # type: ignore[arg-type]
                        help=text("job store file (default: $LRMS_STORE, else "
                                  "$XDG_DATA_HOME/lrms/jobs.db, i.e. "
                                  "~/.local/share/lrms/jobs.db)"))
    parser.add_argument("--no-agent", action="store_true", **default,  # type: ignore[arg-type]
                        help=text("start no background agent: jobs are submitted and "
                                  "followed only while an lrms command runs (also: "
                                  "'agent: {enabled: false}' in the configuration)"))
    parser.add_argument("-v", "--verbose", action="count",
                        **({"default": argparse.SUPPRESS} if hidden else {"default": 0}),
                        help=text("log more (-v info, -vv debug and tracebacks)"))


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _in_flight(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-in-flight", type=_positive, default=100, metavar="N",
                        help="at most N active jobs per resource in this process's rounds "
                        "(default 100); for jobs submitted as a scheduler array, at most N "
                        "running tasks of each array")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _request(parser: argparse.ArgumentParser) -> None:
    """The options that describe a job (shared by submit and run)."""
    parser.add_argument("--resource", "-r", metavar="NAME",
                        help="resource to use (default: $LRMS_RESOURCE, else the first "
                        "configured one that fits the request)")
    parser.add_argument("--cores", "-c", type=_positive, metavar="N", help="cores (default 1)")
    parser.add_argument("--memory", "-m", metavar="SIZE", help="total memory, e.g. 2GiB")
    parser.add_argument("--walltime", "-t", metavar="TIME",
                        help="time limit, e.g. 30min, 2h, 1:00:00")
    parser.add_argument("--input", "-i", action="append", default=[], metavar="FILE",
                        help="file or directory to copy into the job's sandbox (repeatable; "
                        "files the command names are copied anyway)")
    parser.add_argument("--output", "-o", action="append", default=[], metavar="NAME",
                        help="sandbox file or directory to fetch back (repeatable)")
    parser.add_argument("--env", "-e", action="append", default=[], metavar="NAME=VALUE",
                        help="environment variable for the job (repeatable)")
    parser.add_argument("--name", "-n", metavar="NAME", help="job name")
    parser.add_argument("--tag", metavar="TAG", help="label the job(s), to select them later")
    _in_flight(parser)
    _template(parser.add_argument_group(
        "job template", "refused before submission by a resource whose backend cannot honour "
        "them (see the job template page)"))


def _template(group: argparse._ArgumentGroup) -> None:
    """The portable job template's options (``Application`` fields)."""
    add = group.add_argument
    add("--workdir", metavar="DIR",
        help="directory on the resource to run in (absolute or ~/...; default: the sandbox; "
        "stdout and stderr stay in the sandbox)")
    add("--stdin", metavar="FILE", help="local file copied into the sandbox and read on stdin")
    add("--nodes", type=_positive, metavar="N", help="nodes (default 1)")
    add("--tasks-per-node", type=_positive, metavar="N",
        help="processes per node (default 1); --cores is then per task")
    add("--gpus", type=_count, metavar="N", help="GPUs per node")
    add("--exclusive", action="store_true", default=None, help="whole nodes, not shared")
    add("--constraint", metavar="EXPR", help="node features, e.g. 'intel&ib'")
    add("--launcher", choices=("srun", "mpirun", "mpiexec"),
        help="start the command once per task with this launcher")
    add("--account", metavar="NAME", help="account charged")
    add("--qos", metavar="NAME", help="quality of service")
    add("--reservation", metavar="NAME", help="reservation to run in")
    add("--mail-user", metavar="ADDR", help="address for notices")
    add("--mail-type", metavar="EVENTS", help="notices to send: begin,end,fail")
    add("--hold", action="store_true", default=None,
        help="submit held; 'lrms release JOBID' lets it start")
    add("--begin", metavar="TIME",
        help="do not start before TIME: 2026-12-07T10:00[:00][+01:00] (local time without "
        "an offset) or +30min")
    add("--after", action="append", default=[], metavar="JOBID[:ok|:any]",
        help="start only after this lrms job ended (ok: with exit code 0, the default; any: "
        "however it ended); repeatable")


def _selection(parser: argparse.ArgumentParser, *, everything: str | None = None,
               help_ids: str = "job ids (or a unique ending of one)") -> None:
    parser.add_argument("jobids", nargs="*", metavar="JOBID", help=help_ids)
    parser.add_argument("--tag", metavar="TAG", help="the jobs with this tag")
    if everything:
        flag, text = everything.split(":", 1)
        parser.add_argument(flag, action="store_true", dest="everything", help=text)


def _command(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
             name: str, handler: str, summary: str, description: str, examples: str,
             notes: str = "") -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=textwrap.fill(description, 88),
        epilog=_epilog(examples, notes),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    _globals(parser, hidden=True)
    return parser


def build() -> argparse.ArgumentParser:
    """The whole ``lrms`` parser."""
    parser = argparse.ArgumentParser(
        prog="lrms",
        description="Run jobs on batch systems and shell hosts, locally or over SSH, and keep "
        "track of them in a job store.",
        epilog=f"'lrms COMMAND --help' describes each command, with examples.\n{EXIT_CODES}\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true",
                        help="show the version of lrms and of each installed backend")
    _globals(parser, hidden=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    submit = _command(
        commands, "submit", "submitting:submit", "submit jobs and return at once",
        "Record jobs in the job store and submit them (at most --max-in-flight per "
        "resource; the rest are submitted by later 'lrms status' or 'lrms wait' rounds). "
        "Prints the job ids.  A job's stdout and stderr are among its outputs, and each "
        "job's outputs are fetched into its own folder, <output-dir>/<jobid>, when it ends.",
        """
lrms submit -- python3 sim.py --seed 1
lrms submit --cores 4 --walltime 2h --tag sweep -- ./sim --n 10
lrms submit --params seeds.txt --tag sweep -- python3 sim.py --seed {1} --out {2}
seq 100 | lrms submit --params - --tag sweep -- python3 sim.py --seed {}
lrms submit --file apps.yaml --resource cluster
ids=$(lrms submit --input data.csv --output result.json -- python3 analyse.py data.csv)
""",
        """\
--params FILE: one job per non-blank line (lines starting with # are skipped); with
--params - the lines are read from standard input.  In the command, --name, --input,
--output and --env values, {} is replaced by the whole line and {1}, {2}... by its
whitespace-separated fields; each replacement stays inside its own argument (no shell
ever sees it).  A command without placeholders gets the fields appended as arguments.

--file FILE (YAML, or JSON if it ends in .json): a list of mappings with the keys
arguments (required), inputs, outputs, environment, jobname, requested_cores,
requested_memory, requested_walltime, requested_architecture, stdin, stdout, stderr,
join, extra, and the job template's workdir, gpus, nodes, tasks_per_node, exclusive,
constraint, launcher, account, qos, reservation, email, email_events, hold, begin,
after.  Relative input paths are relative to the file's folder; stdin names a file in
the sandbox.  The command-line request options fill in what an entry leaves out.

Files: every word of the command (after {} placeholders are filled) that is a relative
path to an existing file in or below the current directory (sim.py, ./run.sh,
data/in.csv) is copied into the job's sandbox under that name; the job runs there, so its
results stay apart from other jobs'.  --input sends anything else; with --workdir nothing
is copied and the job runs in that directory on the resource.""")
    _request(submit)
    submit.add_argument("--no-array", dest="arrays", action="store_false",
                        help="submit each job on its own, even where the backend submits "
                        "jobs with the same requests as one scheduler array (whose running "
                        "tasks --max-in-flight then bounds); kept with each job")
    submit.add_argument("--output-dir", "-d", metavar="DIR", default="lrms-output",
                        help="root of the per-job output folders (default ./lrms-output; "
                        "each job's outputs go to DIR/<jobid>)")
    source = submit.add_mutually_exclusive_group()
    source.add_argument("--file", "-f", metavar="FILE",
                        help="submit one job per entry of a YAML or JSON list")
    source.add_argument("--params", "-p", metavar="FILE",
                        help="submit one job per line of FILE ('-': standard input), "
                        "filling the command's placeholders")
    _json(submit)
    submit.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS...")

    run = _command(
        commands, "run", "submitting:run", "run one command as a job and wait for it",
        "Submit COMMAND as a job, wait for it, print its stdout and stderr while it runs "
        "(as srun does), fetch its outputs, free its sandbox, and exit with its return "
        "code (its exit code, or 128+N if signal N killed it).  The job is recorded in the "
        "job store.  Ctrl-C stops waiting but not the job: reattach with 'lrms wait JOBID'.",
        """
lrms run -- echo hello
lrms run --cores 2 --memory 1GiB --walltime 10min -- python3 sim.py --n 10
lrms run --input data.csv --output result.json -- python3 analyse.py data.csv
lrms run --resource cluster --config site.yaml -- ./job.sh
""",
        """\
The command is an argv: it is never passed through a shell, so
  lrms run -- echo '$(id)' '; rm -rf ~'
prints those strings literally.  Use "--" before the command.

Files: every word of the command (after {} placeholders are filled) that is a relative
path to an existing file in or below the current directory (sim.py, ./run.sh,
data/in.csv) is copied into the job's sandbox under that name; the job runs there, so its
results stay apart from other jobs'.  --input sends anything else; with --workdir nothing
is copied and the job runs in that directory on the resource.""")
    _request(run)
    run.add_argument("--output-dir", "-d", default=".", metavar="DIR",
                     help="where fetched outputs go (default: the current directory)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace existing local files with fetched outputs")
    run.add_argument("--keep", action="store_true", help="keep the job's sandbox afterwards")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS...")

    status = _command(
        commands, "status", "watching:status", "show jobs and their states",
        "Refresh the jobs' states (one round: jobs waiting to be submitted are submitted, "
        "outputs of jobs that ended are fetched) and print a table of the jobs, with a "
        "count by state.  Without JOBIDs, all jobs in the store.",
        """
lrms status
lrms status --state running --state submitted
lrms status --tag sweep --json
lrms status --watch 5
lrms status --no-refresh --state failed
lrms status --no-refresh --limit 20 --format jobid,state,exit,runtime
""",
        "STATE names: NEW SUBMITTED RUNNING STOPPED TERMINATING TERMINATED UNKNOWN, and "
        "FAILED\n(terminated jobs that did not exit 0).  Exit code 2 if some active job's "
        "resource is no\nlonger configured.")
    status.add_argument("jobids", nargs="*", metavar="JOBID",
                        help="job ids (or a unique ending of one); default: all")
    status.add_argument("--state", "-s", action="append", default=[], metavar="STATE",
                        help="only jobs in this state (repeatable, or comma-separated)")
    status.add_argument("--resource", "-r", metavar="NAME", help="only jobs on this resource")
    status.add_argument("--tag", metavar="TAG", help="only jobs with this tag")
    status.add_argument("--all", "-a", action="store_true", dest="everything",
                        help="include attempts replaced by a resubmission")
    status.add_argument("--no-refresh", action="store_true",
                        help="show the store as it is, without contacting any resource")
    status.add_argument("--watch", "-w", nargs="?", type=_seconds, const=2.0, metavar="SECONDS",
                        help="refresh every SECONDS (default 2) until the shown jobs have "
                        "terminated")
    status.add_argument("--limit", "-l", type=_positive, metavar="N",
                        help="show only the N most recent of the selected jobs (the count "
                        "below the table still counts them all)")
    status.add_argument("--format", metavar="COLUMNS",
                        help="the table's columns, comma-separated, from: jobid, name, "
                        "state, resource, native_id, array, exit, runtime, tag, attempt, "
                        "sandbox, output_dir, message (default: jobid to tag, array only for "
                        "array tasks); not with --json")
    _in_flight(status)
    _json(status)

    wait = _command(
        commands, "wait", "watching:wait", "wait for jobs to terminate",
        "Run rounds (submit, refresh, fetch) until the jobs have terminated, with a "
        "progress bar on a terminal.  Without JOBIDs or --tag, every job not yet "
        "terminated.  Exit code 0 if every job exited 0, 1 if any failed or was "
        "cancelled, 3 if some job's outputs could not be fetched (named, with the files; "
        "its sandbox is kept and later rounds try again), 124 if --timeout passed first.  "
        "Ctrl-C or a timeout stops waiting, not the jobs: 'lrms wait' again reattaches.",
        """
lrms wait
lrms wait 20260101120000-3f2a9c01bd
lrms wait --tag sweep && lrms fetch --tag sweep
lrms wait --retries 2          # resubmit a failed job up to twice, follow the new attempts
lrms wait --timeout 600 --tag sweep || echo "not done yet: lrms wait --tag sweep reattaches"
""")
    _selection(wait)
    wait.add_argument("--interval", type=_seconds, metavar="SECONDS",
                      help="pause between rounds (default: from 0.1 s growing to 5 s)")
    wait.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                      help="stop waiting after SECONDS (exit code 124); the jobs go on")
    wait.add_argument("--retries", type=_positive, default=0, metavar="N",
                      help="resubmit each job that fails while waiting, up to N times "
                      "(default: never)")
    _in_flight(wait)
    _json(wait)

    cancel = _command(
        commands, "cancel", "managing:cancel", "cancel jobs",
        "Cancel queued or running jobs (a job not yet submitted is just marked cancelled).",
        """
lrms cancel 20260101120000-3f2a9c01bd
lrms cancel --tag sweep
lrms cancel --all-active
""")
    _selection(cancel, everything="--all-active:every job not yet terminated")
    _json(cancel)

    release = _command(
        commands, "release", "managing:release", "let held jobs start",
        "Release jobs submitted with --hold: a job lrms holds itself is submitted by the next "
        "round; a job held by its scheduler is released there.",
        """
lrms release 20260101120000-3f2a9c01bd
lrms release --tag sweep
""")
    _selection(release)
    _json(release)

    fetch = _command(
        commands, "fetch", "managing:fetch", "copy jobs' outputs back",
        "Copy the jobs' outputs (including stdout and stderr for submitted jobs) into each "
        "job's output folder, or into --dir.  Existing files are kept unless --overwrite.",
        """
lrms fetch 20260101120000-3f2a9c01bd
lrms fetch --tag sweep --overwrite
lrms fetch 3f2a9c01bd --dir results/
""")
    _selection(fetch)
    fetch.add_argument("--dir", metavar="DIR",
                       help="download into DIR (one job), or DIR/<jobid> (several jobs)")
    fetch.add_argument("--overwrite", action="store_true", help="replace existing local files")
    changed = fetch.add_mutually_exclusive_group()
    changed.add_argument("--changed-only", action="store_true", dest="changed_only",
                         default=True,
                         help="with --overwrite, copy only files that differ (the default)")
    changed.add_argument("--all-files", action="store_false", dest="changed_only",
                         help="with --overwrite, copy every file")
    _json(fetch)

    peek = _command(
        commands, "peek", "managing:peek", "print part of a file in a job's sandbox",
        "Print bytes of a file in the job's sandbox (default: its stdout), while it runs "
        "or after it ended (until its sandbox is freed).",
        """
lrms peek 3f2a9c01bd
lrms peek 3f2a9c01bd stderr --offset -2000
lrms peek 3f2a9c01bd log/progress.txt --follow
""")
    peek.add_argument("jobid", metavar="JOBID", help="job id (or a unique ending of one)")
    peek.add_argument("file", nargs="?", metavar="FILE",
                      help="file in the sandbox (default: the job's stdout)")
    peek.add_argument("--offset", type=int, default=0, metavar="N",
                      help="start at byte N (negative: N bytes before the end)")
    peek.add_argument("--size", type=int, metavar="N", help="print at most N bytes")
    peek.add_argument("--follow", "-F", action="store_true",
                      help="keep printing new bytes until the job has terminated")
    peek.add_argument("--interval", type=_seconds, default=1.0, metavar="SECONDS",
                      help="with --follow, pause between reads (default 1)")

    free = _command(
        commands, "free", "managing:free", "delete terminated jobs' sandboxes",
        "Delete the remote sandboxes of terminated jobs (the jobs stay in the store; "
        "fetched outputs are not touched).  A sandbox holding outputs that were never "
        "fetched is kept unless --force.",
        """
lrms free 3f2a9c01bd
lrms free --tag sweep
lrms free --all-terminated
lrms free --force 3f2a9c01bd      # its outputs were never fetched: delete them anyway
""")
    _selection(free, everything="--all-terminated:every terminated job")
    free.add_argument("--force", action="store_true",
                      help="also delete sandboxes holding outputs never fetched (each one "
                      "is named)")
    _json(free)

    clean = _command(
        commands, "clean", "managing:clean", "free and forget terminated jobs",
        "Delete terminated jobs' sandboxes and remove the jobs (and their earlier attempts) "
        "from the store.  Fetched local outputs are never deleted.  A job whose outputs "
        "were never fetched is kept, with its sandbox, unless --force.",
        """
lrms clean 3f2a9c01bd
lrms clean --tag sweep
lrms clean --all-terminated
lrms clean --force 3f2a9c01bd     # a job on a resource no longer configured
""")
    _selection(clean, everything="--all-terminated:every terminated job")
    clean.add_argument("--no-free", action="store_true",
                       help="forget the jobs but leave their sandboxes on the resource")
    clean.add_argument("--force", action="store_true",
                       help="forget the named jobs whatever their state (jobs not terminated "
                       "are no longer followed, nothing is cancelled); delete terminated "
                       "jobs' sandboxes even if their outputs were never fetched (each one "
                       "is named); a sandbox that cannot be deleted (resource no longer "
                       "configured or unreachable) is left")
    _json(clean)

    resubmit = _command(
        commands, "resubmit", "submitting:resubmit", "submit terminated jobs again",
        "Submit terminated jobs again as new attempts (same application, resource, tag "
        "and output folder).  The old attempt is hidden from 'lrms status' unless --all.",
        """
lrms resubmit 3f2a9c01bd
lrms resubmit --failed
lrms resubmit --failed --tag sweep
""")
    _selection(resubmit, everything="--failed:every job that failed (not cancelled ones)")
    _in_flight(resubmit)
    _json(resubmit)

    resources = _command(
        commands, "resources", "inspecting:resources", "show configured resources",
        "List the configured resources: backend, host, limits and their current load "
        "(free slots, queued jobs, your running and queued jobs).  A resource that cannot "
        "be reached is shown with its error; the exit code is then 3.",
        """
lrms resources
lrms resources --config site.yaml --json
""")
    _json(resources)

    backends = _command(
        commands, "backends", "inspecting:backends", "list installed backends",
        "List the installed backends (entry points of group lrms.backends), load each one "
        "and check its hooks; a broken one is shown with the cause.",
        """
lrms backends
lrms backends --json
""")
    backends.add_argument("--no-check", action="store_true",
                          help="only read package metadata (load no backend)")
    _json(backends)

    agent = _command(
        commands, "agent", "background:status", "show or control the store's background agent",
        "The agent is one background process per job store, started by 'lrms submit' (and by "
        "any command that finds jobs pending and no agent): it submits waiting jobs as slots "
        "free, follows their states (one status query per resource and poll interval, shared "
        "by every process using the store), fetches outputs, and exits when no job has been "
        "active for a while (agent.linger, 10 s).  While it runs, 'lrms wait' and 'lrms status' "
        "read the store instead of querying the resources.",
        """
lrms agent status
lrms agent log -n 50
lrms agent stop
""", "'agent status' exits 0 if an agent runs, 1 if none does.")
    agent_commands = agent.add_subparsers(dest="agent_command", metavar="SUBCOMMAND",
                                          required=True)
    for name, handler, summary in (
            ("status", "background:status", "show whether the agent runs, its log, the "
             "last status query of each resource"),
            ("start", "background:start", "start the agent now (it exits when idle)"),
            ("stop", "background:stop", "stop the agent (jobs keep running)"),
            ("log", "background:show_log", "print the end of the agent's log")):
        sub = agent_commands.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(handler=handler)
        _globals(sub, hidden=True)
        if name == "status":
            _json(sub)
        elif name == "start":
            _in_flight(sub)
        elif name == "stop":
            sub.add_argument("--timeout", type=_positive, default=30, metavar="SECONDS",
                             help="how long to wait for it to exit (default 30)")
        else:
            sub.add_argument("-n", "--lines", type=_positive, default=20, metavar="N",
                             help="how many lines (default 20)")
            sub.add_argument("-f", "--follow", action="store_true",
                             help="keep printing what is appended (Ctrl-C ends)")

    config = _command(
        commands, "config", "inspecting:config", "check the configuration",
        "Configuration commands.",
        """
lrms config check
lrms config check site.yaml
""")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND",
                                            required=True)
    check = config_commands.add_parser(
        "check", help="load the configuration and build every resource",
        description=textwrap.fill(
            "Load the configuration and build every resource (loading its backend and "
            "checking its options); print each problem as FILE:LINE: KEY: PROBLEM.", 88),
        epilog=_epilog("lrms config check\nlrms config check site.yaml --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _globals(check, hidden=True)
    check.add_argument("file", nargs="?", metavar="FILE",
                       help="configuration file (default: --config, else the search order)")
    _json(check)
    return parser
