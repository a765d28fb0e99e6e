"""Stub batch backends for the core's tests: a "scheduler" that is /bin/sh."""

from __future__ import annotations

import lrms
from lrms.batch import BatchBackend, Submission


class QuietBatch(BatchBackend):
    """A batch backend whose scheduler says nothing: ids are the submission's output,
    no job is ever listed, a cancel is ``true``."""

    def parse_job_id(self, result):
        return result.text.strip()

    def query(self, jobs):
        return {}

    def cancel_command(self, job):
        return ["true"]

    @lrms.hookimpl
    def get_resource_status(self):
        return lrms.ResourceStatus(1, 1, 0, 0, 0)


class AtOnce(QuietBatch):
    """Runs each job script at once; the submitting shell's pid is the job's id."""

    name = "tiny"
    scheduler = "tinyq"
    native_id_variable = "$TINY_JOB_ID"

    def submit_command(self, app, job, sandbox, script):
        return Submission(["/bin/sh", "-c",
                           'TINY_JOB_ID=$$ bash "$1" > /dev/null 2>&1; echo "$$"', "sh", script])
