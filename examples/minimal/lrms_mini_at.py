"""A minimal lrms backend: each job is a ``batch`` job of the Unix at system, run by atd."""

import re
import shlex
from collections.abc import Sequence
from typing import ClassVar

import lrms
from lrms import Application, Job, LRMSError, Option, ResourceStatus, State
from lrms.batch import CONTROL, BatchBackend, Submission, command_options
from lrms.report import JobReport
from lrms.transport import CommandResult

# atrm ($1) at job $2; if it runs, SIGTERM its script's process group (the PID in file $3).
_CANCEL = ('said=$("$1" "$2" 2>&1) || { echo "$said" >&2; exit 1; }; case $said in *running*) '
           'i=0; until [ -s "$3" ] || [ "$((i += 1))" -gt 50 ]; do sleep 0.1; done; '
           'read -r pid < "$3" && kill -s TERM -- "-$pid";; esac; exit 0')
# atq ($0), asked again if a job that ends meanwhile makes it fail ("Cannot stat in ...").
_ATQ = ('for i in 1 2 3 4 5; do o=$("$0" 2>/dev/null) && exec printf "%s${o:+\\n}" "$o"; '
        'sleep 0.2; done; exec "$0"')


class MiniAtBackend(BatchBackend):
    """Run jobs with at's ``batch``, list them with ``atq``, cancel them with ``atrm``."""

    name = "mini-at"
    scheduler = "at"
    options: ClassVar[Sequence[Option]] = (  # batch takes no arguments: no extra_args
        *(option for option in BatchBackend.options if option.name != "extra_args"),
        *command_options("batch", "atq", "atrm"))
    app_options: ClassVar[tuple[str, ...]] = ()

    def script_prologue(self, app: Application, job: Job) -> list[str]:
        """The script's PID first: setsid (below) makes it the id of its process group."""
        return [f"echo $$ > {CONTROL}/pid", *super().script_prologue(app, job)]

    def submit_command(self, app: Application, job: Job, sandbox: str,
                       script: str) -> Submission:
        """batch reads the shell line it queues on its standard input."""
        log = shlex.quote(f"{sandbox}/{CONTROL}/at.out")
        line = f"exec setsid -w /bin/bash {shlex.quote(script)} < /dev/null > {log} 2>&1\n"
        return Submission([self.command("batch")], stdin=line.encode())

    def parse_job_id(self, result: CommandResult) -> str:
        found = re.search(r"^job (\d+) at ", result.error_text, re.MULTILINE)
        if found is None:
            raise ValueError("batch printed no 'job N at DATE' line")
        return found[1]

    def atq(self) -> list[tuple[str, str, str]]:
        """(number, queue, user) of each job in atq; queue ``=`` means running."""
        lines = self.check(["/bin/sh", "-c", _ATQ, self.command("atq")]).text.splitlines()
        found = [re.fullmatch(r"(\d+)\t.* (\S) (\S+)", line) for line in lines]
        if None in found:
            raise LRMSError(f"resource {self.resource.name}: unexpected atq output {lines!r}")
        return [(entry[1], entry[2], entry[3]) for entry in found if entry]

    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """A job atq no longer lists has ended: the base reads the exit file of its script."""
        wanted = {job.native_id for job in jobs}
        return {number: JobReport(number, State.RUNNING if queue == "=" else State.SUBMITTED,
                                  queue) for number, queue, _ in self.atq() if number in wanted}

    def cancel_command(self, job: Job) -> list[str]:
        return ["/bin/sh", "-c", _CANCEL, "sh", self.command("atrm"), job.native_id or "",
                f"{job.sandbox}/{CONTROL}/pid"]

    def cancel_gone(self, result: CommandResult) -> bool:
        return "Cannot find jobid" in result.error_text  # the job has ended

    @lrms.hookimpl
    def get_resource_status(self) -> ResourceStatus:
        """Jobs in atq counted against the resource's ``max_cores`` (at has no slots)."""
        entries = self.atq()
        running = sum(queue == "=" for _, queue, _ in entries)
        mine = [queue for _, queue, user in entries if user == self.login_user]
        total = self.resource.max_cores
        return ResourceStatus(free_slots=max(0, total - running), total_slots=total,
                              running=running, queued=len(entries) - running,
                              user_run=mine.count("="), user_queued=len(mine) - mine.count("="))
