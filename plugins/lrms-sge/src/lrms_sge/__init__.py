"""lrms-sge: run lrms jobs on a Grid Engine cell (``qsub``, ``qstat``, ``qacct``, ``qdel``)."""

from .backend import SgeBackend

__version__ = "0.3.0"
__all__ = ["SgeBackend"]
