"""lrms-pbs: the ``pbs`` backend for PBS Professional / OpenPBS and Torque."""

from .backend import PbsBackend

__version__ = "0.3.0"
__all__ = ["PbsBackend"]
