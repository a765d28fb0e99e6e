"""lrms-shellcmd: run lrms jobs as processes on a host, locally or over SSH."""

from .backend import ShellcmdBackend

__version__ = "0.3.0"
__all__ = ["ShellcmdBackend"]
