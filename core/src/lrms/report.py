"""What a scheduler said about one job, in lrms's terms: :class:`JobReport`.

Batch backends parse their scheduler's output (``squeue``, ``sacct``,
``qstat``, ``qacct`` ...) into reports; applying a report to a
:class:`~lrms.Job` is the same for every backend.
"""

from __future__ import annotations

import dataclasses

from .job import Job
from .quantity import Duration, Memory
from .state import State, TerminationReason

__all__ = ["JobReport"]


@dataclasses.dataclass(frozen=True)
class JobReport:
    """One job (or array task) as a scheduler reported it.

    ``native_id`` is the scheduler's id as printed (``123``, ``123_4``,
    ``1234.pbs01``); ``raw_state`` its own state word (``PENDING``, ``hqw``,
    ``Q``); ``message`` a human-readable why (hold reason, error text).
    Usage fields are None where the scheduler did not say.
    """

    native_id: str
    state: State
    raw_state: str = ""
    exitcode: int | None = None
    signal: int | None = None
    reason: TerminationReason | None = None
    walltime: Duration | None = None
    cputime: Duration | None = None
    max_memory: Memory | None = None
    message: str | None = None

    def apply(self, job: Job) -> State:
        """Record this report's outcome and usage on ``job``; return the state."""
        if self.state == State.TERMINATED:
            job.record_outcome(exitcode=self.exitcode, signal=self.signal, reason=self.reason,
                               walltime=self.walltime, cputime=self.cputime,
                               max_memory=self.max_memory)
        job.status_message = self.message
        return self.state
