"""lrms.Executor on real resources: shellcmd over SSH, the local Slurm, Grid Engine over SSH
and Slurm's Torque wrappers over SSH (the pbs backend).

Jobs over SSH run as the unprivileged ``lrmstest`` user, whose system Python has no
cloudpickle: the ``remote_python`` fixture makes that user a virtual environment with
the caller's cloudpickle version (``python3 -m venv`` + ``pip install``, over SSH, once;
the same step a user takes on a cluster) and the executor's ``python`` points at it.
The local Slurm runs jobs as this user, with this interpreter.  Resources poll every
half second so the tests stay quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import yaml

import lrms
from lrms.executor import Executor, JobDied, RemoteTraceback

# The jobs cannot import this test module: send its functions by value (as a user would).
cloudpickle.register_pickle_by_value(sys.modules[__name__])
DEADLINE = 120.0
REMOTE_VENV = ".lrms-executor-python"  # in lrmstest's home
LIMITS = {"max_cores": 2, "max_cores_per_job": 2, "max_memory_per_core": "1GiB",
          "max_walltime": "1h", "architecture": ["x86_64"], "poll_interval": 0.5}


class Odd(ValueError):
    """Raised by a job; must come back as itself."""


def check(x: int) -> int:
    if x % 2:
        raise Odd(f"{x} is odd")
    return x // 2


def dies() -> None:
    sys.stderr.write("going down\n")
    sys.stderr.flush()
    os._exit(3)


def write_config(tmp_path: Path, name: str, section: dict[str, Any],
                 sshd: types.SimpleNamespace | None = None) -> str:
    data: dict[str, Any] = {"resources": {name: {**LIMITS, **section}}}
    if sshd is not None:
        data["resources"][name].update(transport="ssh", frontend=sshd.host, port=sshd.port,
                                       auth="test")
        data["auths"] = {"test": {"type": "ssh", "username": sshd.user, "keyfile": sshd.key,
                                  "known_hosts": sshd.known_hosts}}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture(scope="session")
def remote_python(sshd: types.SimpleNamespace) -> str:
    """A Python with the caller's cloudpickle for ``lrmstest`` (made once, then reused)."""
    venv = f"{sshd.home}/{REMOTE_VENV}"
    script = (f'test -x {venv}/bin/python || /usr/bin/python3 -m venv {venv} && '
              f'{venv}/bin/python -c "import cloudpickle; assert cloudpickle.__version__ == '
              f"'{cloudpickle.__version__}'\" 2>/dev/null || "
              f"{venv}/bin/python -m pip install -q cloudpickle=={cloudpickle.__version__}")
    done = subprocess.run(
        ["ssh", "-p", str(sshd.port), "-i", sshd.key, "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={sshd.known_hosts}", f"{sshd.user}@{sshd.host}", script],
        capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot make {venv} with cloudpickle for {sshd.user}:\n{done.stderr}",
                    pytrace=False)
    return f"{venv}/bin/python"


def resource(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The configuration file and the python for one kind of resource."""
    if kind == "slurm":
        slurm = request.getfixturevalue("slurm")
        return write_config(tmp_path, "slurm", {
            "backend": "slurm", "partition": slurm["LRMS_SLURM_PARTITION"],
            "spool": str(tmp_path / "spool")}), sys.executable
    sshd = request.getfixturevalue("sshd")
    python = request.getfixturevalue("remote_python")
    spool = f"~/lrms-test/executor-{tmp_path.name}"
    if kind == "shellcmd-ssh":
        section: dict[str, Any] = {"backend": "shellcmd", "spool": spool}
    elif kind == "sge-ssh":
        request.getfixturevalue("sge")
        section = {"backend": "sge", "spool": spool}
    else:
        torque = request.getfixturevalue("torque")
        # the wrappers have no qmgr to read the largest array from
        section = {"backend": "pbs", "flavour": "torque", "spool": spool,
                   "max_array_size": 500, "tracejob_days": 0,
                   **{f"{name}_command": f"{torque}/{name}"
                      for name in ("qsub", "qstat", "qdel", "qrls", "pbsnodes")}}
    return write_config(tmp_path, kind, section, sshd), python


@pytest.fixture(params=["shellcmd-ssh", "slurm", "sge-ssh", "torque-ssh"])
def executor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Executor]:
    config, python = resource(request.param, request, tmp_path)
    ex = Executor(config, store=tmp_path / "jobs.db", python=python)
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
        with lrms.Engine(config, tmp_path / "jobs.db") as engine:
            res = engine.resource(engine.config.resource_names[0])
            res.transport.remove(res.backend.spool, recursive=True)


def test_map_values_and_exceptions(executor: Executor, tmp_path: Path) -> None:
    """A sweep comes back in order, as one scheduler array where the backend has them;
    an exception raised on the resource comes back as itself with its traceback."""
    assert list(executor.map(check, [0, 2, 4, 6], timeout=DEADLINE)) == [0, 1, 2, 3]
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        jobs = store.jobs()
    config = lrms.load_config(executor._shared.config.path)
    name = config.resource_names[0]
    arrays = {job.backend_data.get("array") for job in jobs}
    if config.resource(name).can("submit_jobs"):
        assert len(arrays) == 1 and None not in arrays, f"not one array: {jobs}"
    else:
        assert arrays == {None}
    with pytest.raises(Odd, match="3 is odd") as raised:
        executor.submit(check, 3).result(DEADLINE)
    base = 10  # a closure in a job named "<lambda>"
    assert executor.submit(lambda: base + 1).result(DEADLINE) == 11
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "in check" in str(raised.value.__cause__)
    config.close()


def test_a_module_missing_on_the_resource_is_named(request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    """lrms itself is not installed for lrmstest: a call of an lrms function names it."""
    config, python = resource("shellcmd-ssh", request, tmp_path)
    with Executor(config, store=tmp_path / "jobs.db", python=python) as ex, \
            pytest.raises(ModuleNotFoundError,
                          match="module 'lrms' is missing on resource shellcmd-ssh "
                                rf"\(Python 3\.\d+\.\d+, {python}\)"):
        ex.submit(lrms.Memory, "1GiB").result(DEADLINE)


def test_options_death_and_cancel_on_slurm(request: pytest.FixtureRequest,
                                           tmp_path: Path) -> None:
    """Requests reach the Slurm job; a job that died says how, with its stderr's end;
    cancelling a running call's future scancels its job."""
    config, python = resource("slurm", request, tmp_path)
    with Executor(config, store=tmp_path / "jobs.db", python=python) as ex:
        wide = ex.options(cores=2, walltime="5min")
        assert wide.submit(lambda: os.environ["SLURM_CPUS_PER_TASK"]).result(DEADLINE) == "2"
        with pytest.raises(JobDied, match=r"on slurm ended \(exited, return code 3\) without a "
                                          r"result(.|\n)*stderr ends with:\ngoing down"):
            ex.submit(dies).result(DEADLINE)
        future = ex.submit(time.sleep, 300)
        with lrms.JobStore(tmp_path / "jobs.db") as store:
            deadline = time.monotonic() + DEADLINE
            while store.get(future.jobid).state != lrms.State.RUNNING:
                assert time.monotonic() < deadline, "the call never ran"
                time.sleep(0.1)
            assert future.cancel()
            native = store.get(future.jobid).native_id
        ex.shutdown(wait=True)
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        job = store.get(future.jobid)
    assert job.termination_reason == lrms.TerminationReason.CANCELLED, job
    assert subprocess.run(["squeue", "-h", "-j", str(native)], capture_output=True,
                          text=True, check=False).stdout.strip() == ""
