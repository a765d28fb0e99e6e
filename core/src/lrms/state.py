"""Job states and normalised termination reasons."""

from __future__ import annotations

import enum

__all__ = ["State", "TerminationReason"]


class State(str, enum.Enum):
    """Where a job is in its life.

    ``STOPPED`` means held or suspended: it needs a human.  ``UNKNOWN`` means
    contact with the resource was lost or the job is no longer found there.
    """

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value


class TerminationReason(str, enum.Enum):
    """Why a terminated job ended, in the same words for every backend."""

    EXITED = "exited"                        # the program ended by itself (any exit code)
    SIGNALLED = "signalled"                  # killed by a signal nobody in lrms sent
    CANCELLED = "cancelled"                  # cancel_job, qdel/scancel by a user or admin
    WALLTIME_EXCEEDED = "walltime_exceeded"  # killed for running past its time limit
    MEMORY_EXCEEDED = "memory_exceeded"      # killed for using more memory than requested
    NODE_FAILURE = "node_failure"            # the node or the scheduler failed the job
    SUBMISSION_FAILED = "submission_failed"  # never ran: rejected, or could not start
    LOST = "lost"                            # its supervisor died: the outcome is not known
    DEPENDENCY_FAILED = "dependency_failed"  # never ran: a job it waited for did not succeed
    UNKNOWN = "unknown"                      # the resource did not say

    def __str__(self) -> str:
        return self.value
