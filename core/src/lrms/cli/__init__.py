"""The ``lrms`` command line (console script ``lrms = lrms.cli:main``).

Commands: submit, run, status, wait, cancel, fetch, peek, free, clean,
resubmit, resources, backends, config check (``lrms COMMAND --help``).  Jobs
are kept in the job store (:class:`lrms.JobStore`) and driven by an
:class:`lrms.Engine`, so any later ``lrms`` process can follow them.

Exit codes:

* 0 -- success;
* 1 -- a job failed (``run`` exits with the job's own return code: its exit
  code, or 128+N if signal N killed it);
* 2 -- usage or configuration error, including an unknown job id, a job on a
  resource no longer configured, and a job store that is corrupt or newer
  than this lrms (such a file is never modified);
* 3 -- resource, backend or transport error (including outputs that could
  not be fetched);
* 130 -- interrupted by Ctrl-C: jobs keep running; the message says how to
  reattach.

Errors are one line, ``lrms: error: ...``; ``-vv`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    """The full argument parser (the Sphinx CLI reference is generated from it)."""
    from .parser import build

    return build()


def _log_to_stderr(verbose: int) -> None:
    """Log lines on stderr whose message has its control characters escaped (job-provided
    text reaches log messages); a traceback under ``-vv`` keeps its lines.  Set up only
    once a command runs, so ``--help`` never imports :mod:`logging`."""
    import logging

    from .render import terminal_text

    class TerminalFormatter(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:
            return terminal_text(super().formatMessage(record))

    handler = logging.StreamHandler()
    handler.setFormatter(TerminalFormatter("lrms: %(levelname)s: %(message)s"))
    logging.basicConfig(level={0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG),
                        handlers=[handler])
    if verbose == 0:  # the CLI reports what a round did itself
        logging.getLogger("lrms.engine").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``lrms`` command; return its exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return exc.code if isinstance(exc.code, int) else 2
    _log_to_stderr(args.verbose)
    if args.version:
        from .inspecting import version

        return version()
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module, _, function = args.handler.partition(":")
    command = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    from .session import run

    return run(command, args)
