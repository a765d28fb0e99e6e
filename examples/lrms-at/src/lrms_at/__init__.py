"""lrms-at: an lrms backend that runs jobs through the Unix at system (``batch``, ``atd``)."""

from .backend import AtBackend

__all__ = ["AtBackend"]
