"""The lrms conformance suite, as a pytest plugin: DESIGN §4 checked against a real resource.

A backend author points it at a configured resource::

    pytest -p lrms.testing --lrms-config site.yaml --lrms-resource cluster [--lrms-timeout 120]

Loading the plugin with ``-p`` adds the suite's module,
:mod:`lrms.testing.conformance`, to what pytest collects, from any directory.
With no path on the command line only the suite runs (not the current
directory's tests, nor an ini file's ``testpaths``); paths that are given are
collected as well, so a backend's own tests may use the plugin's fixtures next
to the suite.  ``-k`` and ``-m lrms_conformance`` select as usual.

Fixtures for any test in the session: ``lrms_config_path``, ``lrms_resource_name``,
``lrms_timeout`` and ``lrms_resource`` (the configured :class:`~lrms.LRMS`, built
once, closed at the end).  A missing option or a resource that cannot be built
fails every test that needs it, with the reason; nothing is ever skipped.

``--lrms-timeout`` (seconds, default 120) bounds each test: its waits for job
states share that budget, and a test still inside a backend call
``WATCHDOG_GRACE`` seconds later is stopped with a failure showing where it
hangs (SIGALRM, on the main thread of POSIX systems).

pytest is imported only here: the core does not depend on it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType

import pytest

import lrms

__all__ = ["SUITE_MODULE", "build_resource", "suite_path"]

SUITE_MODULE = "lrms.testing.conformance"
SUITE_NODEID = "lrms/testing/conformance.py"
MARKER = "lrms_conformance"
DEFAULT_TIMEOUT = 120.0
#: Seconds past --lrms-timeout before a test stuck in a backend call is interrupted.
WATCHDOG_GRACE = 10.0

pytest.register_assert_rewrite(SUITE_MODULE)


@functools.cache
def suite_path() -> Path:
    """The file of the conformance module (found without importing it)."""
    spec = importlib.util.find_spec(SUITE_MODULE)
    if spec is None or spec.origin is None:  # pragma: no cover - broken installation
        raise pytest.UsageError(f"lrms.testing: cannot find {SUITE_MODULE}; reinstall lrms")
    return Path(spec.origin).resolve()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lrms", "lrms conformance suite (lrms.testing)")
    group.addoption("--lrms-config", metavar="PATH", default=None,
                    help="lrms YAML configuration that defines the resource under test.")
    group.addoption("--lrms-resource", metavar="NAME", default=None,
                    help="Name of the resource under test in that configuration.")
    group.addoption("--lrms-timeout", metavar="SECONDS", type=float, default=DEFAULT_TIMEOUT,
                    help="Time budget of each conformance test, including waits for "
                         f"jobs (default {DEFAULT_TIMEOUT:g}).")


def _names_suite(arg: str, invocation_dir: Path) -> bool:
    target = arg.split("::", 1)[0]
    if target == SUITE_MODULE:
        return True
    path = invocation_dir / os.path.expanduser(target)
    return path.exists() and path.samefile(suite_path())


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Collect the suite: append its module to the command line's paths.

    (Editing ``args`` here is how an installed plugin adds arguments; the hook
    runs for ``-p`` plugins, before pytest decides what to collect.)
    """
    given = getattr(early_config.known_args_namespace, "file_or_dir", None) or []
    here = early_config.invocation_params.dir
    if not any(_names_suite(str(arg), here) for arg in given):
        args.append(str(suite_path()))


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    """Give the suite the node id ``lrms/testing/conformance.py`` wherever it is installed.

    (Outside the rootdir, pytest would otherwise give it an empty one.)
    """
    if module_path.resolve() != suite_path():
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=module_path,
                                                      nodeid=SUITE_NODEID)
    return module


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a test of the lrms conformance suite (lrms.testing)")


def pytest_report_header(config: pytest.Config) -> list[str]:
    path = config.getoption("lrms_config")
    name = config.getoption("lrms_resource")
    timeout = config.getoption("lrms_timeout")
    if not path or not name:
        return [f"lrms conformance: {_missing_options(path, name)}"]
    try:
        backend = lrms.load_config(path).backend_of(name)
    except lrms.LRMSError as exc:
        return [f"lrms conformance: resource {name!r} from {path}: cannot read it: {exc}"]
    dist = next((b for b in lrms.list_backends() if b.name == backend), None)
    provider = f", {dist.distribution} {dist.version}" if dist and dist.distribution else ""
    return [
        f"lrms conformance: resource {name!r} (backend {backend}{provider}) from {path}; "
        f"lrms {lrms.__version__}, plugin API {lrms.API_VERSION}; timeout {timeout:g} s"
    ]


def _missing_options(path: str | None, name: str | None) -> str:
    missing = [opt for opt, value in (("--lrms-config", path), ("--lrms-resource", name))
               if not value]
    return (f"{' and '.join(missing)} missing: run pytest -p lrms.testing "
            "--lrms-config site.yaml --lrms-resource NAME")


@pytest.fixture(scope="session")
def lrms_config_path(pytestconfig: pytest.Config) -> str:
    """The ``--lrms-config`` file (the test fails if the option is missing)."""
    path = pytestconfig.getoption("lrms_config")
    name = pytestconfig.getoption("lrms_resource")
    if not path or not name:
        pytest.fail(f"lrms conformance: {_missing_options(path, name)}", pytrace=False)
    return str(path)


@pytest.fixture(scope="session")
def lrms_resource_name(pytestconfig: pytest.Config, lrms_config_path: str) -> str:
    """The ``--lrms-resource`` name."""
    return str(pytestconfig.getoption("lrms_resource"))


@pytest.fixture(scope="session")
def lrms_timeout(pytestconfig: pytest.Config) -> float:
    """The ``--lrms-timeout`` budget of one test, in seconds."""
    timeout = float(pytestconfig.getoption("lrms_timeout"))
    if timeout <= 0:
        pytest.fail(f"lrms conformance: --lrms-timeout must be positive, got {timeout:g}",
                    pytrace=False)
    return timeout


def build_resource(path: str, name: str) -> lrms.LRMS:
    """A new :class:`~lrms.LRMS` for resource ``name`` of the config at ``path``.

    Fails the calling test, with the cause, if the resource cannot be built.
    """
    try:
        resource: lrms.LRMS = lrms.load_config(path).resource(name)
    except Exception as exc:  # any failure to build must fail loudly, never skip
        pytest.fail(f"lrms conformance: cannot build resource {name!r} from {path}: "
                    f"{type(exc).__name__}: {exc}", pytrace=False)
    return resource


@pytest.fixture(scope="session")
def lrms_resource(lrms_config_path: str, lrms_resource_name: str) -> Iterator[lrms.LRMS]:
    """The resource under test, built once from the configuration and closed at the end."""
    resource = build_resource(lrms_config_path, lrms_resource_name)
    try:
        yield resource
    finally:
        resource.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Stop a conformance test that hangs in a backend call (see the module docstring)."""
    armed = (item.get_closest_marker(MARKER) is not None and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    if not armed:
        return (yield)
    limit = float(item.config.getoption("lrms_timeout")) + WATCHDOG_GRACE

    def expired(signum: int, frame: FrameType | None) -> None:
        pytest.fail(f"{item.name} still running after {limit:g} s (--lrms-timeout plus "
                    f"{WATCHDOG_GRACE:g} s): a backend call hangs; the traceback shows where")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

