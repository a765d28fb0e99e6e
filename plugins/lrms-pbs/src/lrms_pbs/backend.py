"""The ``pbs`` backend: PBS Professional / OpenPBS and Torque through qsub, qstat, qdel.

One option, ``flavour``, chooses the dialect.  Submission renders the job script
into the sandbox and passes every directive as a ``qsub`` argument.  State is
asked with one ``qstat -f`` for all jobs (PBS Pro adds ``-x``, so finished jobs
come from the server's history); on PBS Pro that is ``qstat -f -F json`` once the
server has shown it supports it (tried on the first query, remembered), text
otherwise.  A finished job qstat cannot explain is asked
of ``tracejob`` (one shell for all of them), then of the exit-status file its
job script wrote.  The tables and parsers are in :mod:`lrms_pbs.parse`.
``find_jobs`` looks jobs up by their output path (``Output_Path`` of ``qstat -f``,
in the sandbox), then by the job id the script recorded in the sandbox as it started.
Arrays (``LRMS.submit_jobs``): PBS Pro ``qsub -J 0-N[%T]``, Torque ``qsub -t 0-N[%T]``,
split at the server's limit (``qmgr``, or the ``max_array_size`` option); subjob ``i``
of ``1234[].server`` is ``1234[i].server``, asked on PBS Pro with one ``qstat -t`` per
array.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from lrms import (
    Application,
    Job,
    LRMSError,
    ResourceStatus,
    SubmissionRefused,
)
from lrms.batch import CONTROL, QSUB_UTC, BatchBackend, Search, Submission, command_options
from lrms.hookspecs import hookimpl
from lrms.options import Option
from lrms.report import JobReport
from lrms.transport import CommandResult

from .parse import (
    JOB_ID,
    Flavour,
    count_job_states,
    legal_job_name,
    max_array_size,
    node_gpus,
    node_slots,
    parse_pbsnodes,
    parse_qstat_f,
    parse_qstat_json,
    parse_qsub_id,
    parse_queue_totals,
    parse_tracejob,
    report_from_attributes,
    short_id,
    split_tracejob,
)
from .template import TEMPLATE_FIELDS, queue, resource_args, template_args

__all__ = ["PbsBackend"]

#: What PBS, Torque and Slurm's wrappers print about a job id they no longer
#: know (qstat) or that has already ended (qdel).
_GONE = re.compile(
    r"Unknown Job Id|Job has finished|job has finished|has already (?:finished|completed)"
    r"|Request invalid for state of job|invalid state for job|completed state", re.IGNORECASE)
#: Runs tracejob on every id in one shell: $1 command, $2 days, then the ids.
_TRACEJOB_ALL = 'cmd=$1 days=$2; shift 2; for id do "$cmd" -n "$days" "$id"; done'
#: Runs qstat -u for the login user (its name as the remote side knows it).
_QSTAT_USER = 'exec "$0" -u "$(id -un)"'
#: What a qstat that does not accept an option prints: getopt's complaint and/or its
#: usage text (PBS Pro before ``-F`` existed: tests/data/pbspro/qstat-usage-14.2.txt).
_REFUSED = re.compile(r"^usage:|invalid option|illegal option|unrecognized option"
                      r"|conflicting options", re.IGNORECASE | re.MULTILINE)
_SUBJOB = re.compile(r"\[\d+\]")  # the index of a subjob id, 1234[5].server
_RUNNING_LETTERS = "RBE"
_QUEUED_LETTERS = "QHWT"


def _refuses_json(result: CommandResult) -> bool:
    """True if qstat refused ``-F json`` as an option (as opposed to failing otherwise)."""
    return (result.returncode != 0 and not result.text.lstrip().startswith("{")
            and _REFUSED.search(f"{result.error_text}\n{result.text}") is not None)


class _AutoOrBoolean(Option):
    """A string option that also takes YAML ``true``/``false`` (as "true"/"false")."""

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return super().convert(value)


class PbsBackend(BatchBackend):
    """PBS Professional / OpenPBS (``flavour: pbspro``) and Torque (``flavour: torque``)."""

    name: ClassVar[str] = "pbs"
    scheduler: ClassVar[str] = "PBS"
    app_options: ClassVar[tuple[str, ...]] = ("queue", "account", "project", "extra_args")
    template_fields = TEMPLATE_FIELDS
    #: The id qsub printed, an array's for its subjobs (1234[7].server -> 1234[].server),
    #: recorded by the job script; Slurm's Torque wrappers set no PBS_JOBID.
    native_id_variable: ClassVar[str | None] = (
        r'$(lrms_id=${PBS_JOBID:-${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}}; '
        r'echo "${lrms_id/\[*\]/[]}")')
    #: A running subjob's index: PBS Pro's, Torque's, Slurm's (Torque wrappers); its id.
    task_index_variable: ClassVar[str] = (
        "${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-$SLURM_ARRAY_TASK_ID}}")
    task_id_variable: ClassVar[str | None] = (
        "${PBS_JOBID:-${SLURM_ARRAY_JOB_ID}[${SLURM_ARRAY_TASK_ID}]}")
    options: ClassVar[Sequence[Option]] = (
        *BatchBackend.options,
        Option("flavour", "string", "pbspro",
               "pbspro (PBS Professional, OpenPBS) or torque.", choices=("pbspro", "torque")),
        Option("queue", "string", None, "Queue for every job (qsub -q)."),
        Option("account", "string", None, "Account string charged (qsub -A)."),
        Option("project", "string", None, "PBS Pro project (qsub -P); not for Torque."),
        _AutoOrBoolean(
            "qstat_json", "string", "auto",
            "PBS Pro: read qstat -f -F json. auto: if the server accepts it (tried once, "
            "remembered); true: always; false: text only.  Ids the JSON leaves out are "
            "asked again as text.  Torque: auto or false.", choices=("auto", "true", "false")),
        Option("tracejob_days", "integer", 3,
               "Days of server logs tracejob searches for a finished job qstat no "
               "longer lists; 0 disables tracejob."),
        Option("max_array_size", "integer", 0,
               "The most subjobs one array may have; 0: ask the server (qmgr)."),
        *command_options("qsub", "qstat", "qdel", "qrls", "pbsnodes", "tracejob", "qmgr"),
    )

    def __init__(self, resource: Any) -> None:
        super().__init__(resource)
        self.flavour: Flavour = resource.options["flavour"]
        if self.flavour == "torque" and resource.options.get("project"):
            raise ValueError(f"resource {resource.name}: option project: Torque has no "
                             "projects (its qsub -P is a proxy user); use account")
        json_mode = resource.options["qstat_json"]
        if self.flavour == "torque" and json_mode == "true":
            raise ValueError(f"resource {resource.name}: option qstat_json: Torque's qstat "
                             "has no -F json; use auto or false")
        self._json_required = json_mode == "true"
        if resource.options["max_array_size"] < 0:
            raise ValueError(f"resource {resource.name}: option max_array_size: must be 0 "
                             "(ask the server) or more")
        self._max_array_size: int | None = resource.options["max_array_size"] or None
        #: Whether this server's qstat gives ``-F json``: None until a query shows it.
        self.qstat_json: bool | None = None
        if self.flavour == "torque" or json_mode == "false":
            self.qstat_json = False
        elif self._json_required:
            self.qstat_json = True

    # -- submission --------------------------------------------------------------

    def _job_options(self, app: Application) -> dict[str, Any]:
        """:meth:`job_options`, refusing a Torque project set by the application."""
        merged = self.job_options(app)
        if self.flavour == "torque" and merged["project"]:
            raise LRMSError(f"resource {self.resource.name}: job {app.jobname!r}: Torque has "
                            "no projects (its qsub -P is a proxy user); use account")
        return merged

    def submit_command(self, app: Application, job: Job, sandbox: str,
                       script: str) -> Submission:
        return self._qsub(app, posixpath.join(sandbox, CONTROL), script)

    def array_command(self, app: Application, array_dir: str, script: str, first: int,
                      last: int, throttle: int | None) -> Submission:
        """PBS Pro ``qsub -J FIRST-LAST[%THROTTLE]``, Torque ``qsub -t FIRST-LAST[%THROTTLE]``;
        PBS writes its output into the array's directory."""
        spec = f"{first}-{last}" + (f"%{throttle}" if throttle else "")
        return self._qsub(app, array_dir, script, ["-J" if self.flavour == "pbspro" else "-t",
                                                   spec])

    def _qsub(self, app: Application, output_dir: str, script: str,
              tasks: Sequence[str] = ()) -> Submission:
        """The qsub command of a job (an array: ``tasks``) whose PBS output is in
        ``output_dir``."""
        options = self._job_options(app)
        refused = functools.partial(self.refused, app, backend=f"pbs, flavour {self.flavour}")
        argv = [self.command("qsub"), "-N", legal_job_name(app.jobname or "job", self.flavour),
                "-S", "/bin/bash", "-j", "oe", "-o", posixpath.join(output_dir, "pbs.out"),
                *tasks]
        destinations = (("-q", queue(app, options, self.flavour)),
                        ("-A", app.account or options["account"]), ("-P", options["project"]))
        for flag, value in destinations:
            if value:
                argv += [flag, str(value)]
        argv += [*resource_args(app, self.flavour, refused),
                 *template_args(app, self.flavour, refused)]
        prefix = QSUB_UTC if app.earliest_start is not None else ()
        return Submission([*prefix, *argv, *options["extra_args"], script])

    def task_id(self, array_id: str, index: int) -> str:
        """``1234[5].server`` of array ``1234[].server`` (``1234[5]`` of Slurm's Torque
        wrappers' ``1234``)."""
        if "[]" in array_id:
            return array_id.replace("[]", f"[{index}]", 1)
        number, dot, server = array_id.partition(".")
        return f"{number}[{index}]{dot}{server}"

    def max_array_size(self) -> int:
        """The ``max_array_size`` option, else the server's (``qmgr -c 'print server'``:
        PBS Pro ``max_array_size``, default 10000; Torque ``max_job_array_size``, default
        no limit), read once."""
        if self._max_array_size is None:
            result = self.transport.run([self.command("qmgr"), "-c", "print server"])
            if result.returncode != 0:  # not transient: the jobs are refused, not retried
                raise SubmissionRefused(str(self.failed(
                    result, said=(result.error_text or result.text.strip())
                    + " (set the max_array_size option instead)")))
            self._max_array_size = max_array_size(result.text, self.flavour)
        return self._max_array_size

    def parse_job_id(self, result: CommandResult) -> str:
        return parse_qsub_id(result.text)

    # -- state -------------------------------------------------------------------

    def _qstat(self, ids: Sequence[str]) -> list[dict[str, str]]:
        """Attributes of the jobs ``ids`` that qstat knows (every job if ``ids`` is empty).

        JSON unless this server is known not to give it; ids the JSON leaves out,
        or all of them when it refuses ``-F json`` or prints JSON that does not
        parse, are asked again as text: at most two commands.  A server whose JSON
        leaves out jobs its text lists (openpbs/openpbs#2672) is asked in text from
        then on, unless ``qstat_json`` is true.
        """
        attrs = self._qstat_json(ids) if self.qstat_json is not False else None
        if attrs is None:
            return self._qstat_text(ids)
        answered = {short_id(a[JOB_ID]) for a in attrs}
        missing = [native for native in ids if short_id(native) not in answered]
        if not missing:
            return attrs
        listed = self._qstat_text(missing)
        if listed and not self._json_required:
            self.qstat_json = False
        return attrs + listed

    def _qstat_argv(self, ids: Sequence[str], as_json: bool) -> list[str]:
        """``qstat -f`` of ``ids``; PBS Pro (``-x``, history too) is asked for an array's
        subjobs by the array (``qstat -t 1234[]``: one argument per array)."""
        arrays = self.flavour == "pbspro" and any(_SUBJOB.search(native) for native in ids)
        asked = list(dict.fromkeys(_SUBJOB.sub("[]", native) for native in ids)) if arrays else ids
        return [self.command("qstat"), *(["-x"] if self.flavour == "pbspro" else []), "-f",
                *(["-t"] if arrays else []), *(["-F", "json"] if as_json else []), *asked]

    def _qstat_json(self, ids: Sequence[str]) -> list[dict[str, str]] | None:
        """``qstat -f -F json``; None if the server refuses the option (remembered) or
        prints JSON that does not parse (tried again next time)."""
        result = self.transport.run(self._qstat_argv(ids, as_json=True))
        if _refuses_json(result):
            if self._json_required:
                raise self.failed(result, said="qstat refuses -F json (option qstat_json is "
                                  "true; set it to auto or false): "
                                  + (result.error_text or result.text.strip()))
            self.qstat_json = False
            return None
        try:
            jobs = parse_qstat_json(result.text) if result.text.strip() else []
        except ValueError:
            return None
        if result.text.strip():
            self.qstat_json = True
        return self._answered(result, jobs)

    def _qstat_text(self, ids: Sequence[str]) -> list[dict[str, str]]:
        result = self.transport.run(self._qstat_argv(ids, as_json=False))
        return self._answered(result, parse_qstat_f(result.text))

    def _answered(self, result: CommandResult,
                  jobs: list[dict[str, str]]) -> list[dict[str, str]]:
        """``jobs``, unless qstat failed for another reason than jobs it does not know."""
        errors = [line for line in result.error_text.splitlines()
                  if line.strip() and not _GONE.search(line)]
        if result.returncode != 0 and not jobs and errors:
            raise self.failed(result, said="; ".join(errors))
        return jobs

    def _match(self, jobs: Sequence[Job], found: Sequence[JobReport]) -> dict[str, JobReport]:
        """Reports keyed by the native id of the job each one is about."""
        exact = {report.native_id: report for report in found}
        by_short: dict[str, list[JobReport]] = {}
        for report in found:
            by_short.setdefault(short_id(report.native_id), []).append(report)
        matched = {}
        for job in jobs:
            native = job.native_id or ""
            candidates = by_short.get(short_id(native), [])
            match = exact.get(native) or (candidates[0] if len(candidates) == 1 else None)
            if match is not None:
                matched[native] = match
        return matched

    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        ids = [job.native_id for job in jobs if job.native_id]
        attrs = self._qstat(ids) if ids else []
        return self._match(jobs, [report_from_attributes(a, self.flavour) for a in attrs])

    def history(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """What tracejob knows about finished jobs, with one shell for all of them."""
        days = int(self.resource.options.get("tracejob_days") or 0)
        if days <= 0 or not jobs:
            return {}
        result = self.transport.run(
            ["/bin/sh", "-c", _TRACEJOB_ALL, "sh", self.command("tracejob"), str(days),
             *(job.native_id or "" for job in jobs)])
        found = [parse_tracejob(chunk, self.flavour) for chunk in split_tracejob(result.text)]
        return self._match(jobs, [report for report in found if report is not None])

    # -- interrupted submissions -----------------------------------------------------

    def searches(self) -> list[Search]:
        """qstat -f of every job."""
        return [self._find_listed]

    def _find_listed(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        """Every job qstat lists (PBS Pro: finished ones too), by output path (in a job's
        sandbox, or in an array's directory)."""
        attrs = self._qstat([])
        arrays = self.array_dir("")
        outputs = {posixpath.join(path, *([] if path.startswith(arrays) else [CONTROL]),
                                  "pbs.out"): job for path, job in wanted.items()}
        return _newest((a[JOB_ID], outputs.get(path) or outputs.get(path.partition(":")[2]))
                       for a in attrs for path in [a.get("Output_Path", "")])

    # -- cancel and status ----------------------------------------------------------

    def cancel_command(self, job: Job) -> list[str]:
        return [self.command("qdel"), job.native_id or ""]

    def release_command(self, job: Job) -> list[str]:
        """``qrls``: lift the user hold a job was submitted with (``hold``)."""
        return [self.command("qrls"), job.native_id or ""]

    def cancel_gone(self, result: CommandResult) -> bool:
        """qdel of a job that has already ended: it says so, or says nothing."""
        said = (result.error_text + "\n" + result.text).strip()
        return not said or bool(_GONE.search(said))

    @hookimpl
    def get_resource_status(self) -> ResourceStatus:
        """Cores (and Torque's GPUs) from ``pbsnodes -a``, all jobs from ``qstat -q``, the
        user's from ``qstat -u``."""
        nodes = parse_pbsnodes(self.transport.check([self.command("pbsnodes"), "-a"]).text)
        slots = [node_slots(node, self.flavour) for node in nodes]
        queues = self.transport.run([self.command("qstat"), "-q"])
        totals = parse_queue_totals(queues.text)
        if totals is None and queues.returncode != 0:   # Slurm's wrapper exits 153 on success
            raise self.failed(queues)
        mine = count_job_states(self.transport.check(
            ["/bin/sh", "-c", _QSTAT_USER, self.command("qstat")]).text)
        gpus = [count for node in nodes if (count := node_gpus(node, self.flavour)) is not None]
        return ResourceStatus(
            free_slots=sum(total - used for total, used, usable in slots if usable),
            total_slots=sum(total for total, _, _ in slots),
            user_run=sum(mine.get(letter, 0) for letter in _RUNNING_LETTERS),
            user_queued=sum(mine.get(letter, 0) for letter in _QUEUED_LETTERS),
            queued=totals[1] if totals else 0,
            running=totals[0] if totals else None,
            details={"flavour": self.flavour, "nodes": len(nodes),
                     "usable_nodes": sum(1 for *_, usable in slots if usable),
                     **({"gpus": sum(gpus)} if gpus else {})},
        )


def _newest(pairs: Iterable[tuple[str, Job | None]]) -> dict[str, str]:
    """{jobid: the highest of its job ids} of the ``(job id, job)`` pairs naming a job."""
    found: dict[str, str] = {}
    for native, job in pairs:
        if job is not None and (job.jobid not in found
                                or _sequence(native) > _sequence(found[job.jobid])):
            found[job.jobid] = native
    return found


def _sequence(native: str) -> int:
    """The sequence number of a PBS job id (``1234`` of ``1234[].server``)."""
    digits = re.match(r"\d+", native)
    return int(digits.group()) if digits else -1
