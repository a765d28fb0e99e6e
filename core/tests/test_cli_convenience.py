"""The CLI's conveniences: a fast ``--help``, ``--params -``, ``wait --timeout``,
``status --limit/--format``, the "waiting for a free slot" notice and the Ctrl-C message.

Each runs the real CLI (``lrms.cli.main`` in this process, or the installed script as a
subprocess) on the built-in localhost resource.
"""

from __future__ import annotations

import subprocess
import sys

# What --help must not import: the engine, store, configuration, YAML, the job model
# and the plugin machinery.
HEAVY = ("lrms.engine", "lrms.store", "lrms.config", "lrms.application", "lrms.job", "yaml",
         "pluggy", "stevedore", "paramiko", "lrms_")


def imported_after(code: str) -> list[str]:
    """The modules of ``HEAVY`` a fresh interpreter has imported after running ``code``."""
    probe = (f"import contextlib, io, sys\n{code}\n"
             "print(' '.join(m for m in sys.modules if m.startswith(HEAVY)))\n")
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{probe}"],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


def test_help_imports_no_engine_store_config_yaml_or_plugin_machinery():
    code = ("from lrms.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    codes = [main(['--help']), main(['status', '--help']), main(['wait', '--help']),"
            " main(['submit', '--help'])]\n"
            "assert codes == [0, 0, 0, 0], codes")
    assert imported_after(code) == []


def test_import_lrms_is_lazy_and_every_public_name_still_imports():
    assert imported_after("import lrms; assert lrms.__version__") == []
    every = ("import lrms\n"
             "for name in lrms.__all__: getattr(lrms, name)\n"
             "from lrms import *\n"
             "from lrms import Job, JobStore, Engine, hookimpl, load_config\n"
             "assert set(dir(lrms)) >= set(lrms.__all__)")
    assert "lrms.engine" in imported_after(every)
