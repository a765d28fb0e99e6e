"""lrms-slurm: run lrms jobs on a Slurm cluster, locally or over SSH."""

from .backend import SlurmBackend

__version__ = "0.3.0"
__all__ = ["SlurmBackend"]
