"""Fixtures shared by every test directory: the real services the tests run against.

The service scripts live in ``tests/services``.  A fixture that starts one
fails the test loudly, with the script's output, when the service cannot be
started: integration tests are never skipped.
"""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest

from lrms.auth import SshAuth

REPO_ROOT = Path(__file__).resolve().parent
SERVICES = REPO_ROOT / "tests" / "services"

# Commands in tests run their own rounds; tests/test_agent.py turns the agent on itself.
os.environ["LRMS_NO_AGENT"] = "1"


def start_service(script: str, env_file: str, timeout: float = 900) -> dict[str, str]:
    """Run ``tests/services/<script>`` and return the ``KEY=VALUE`` pairs of its env file."""
    try:
        done = subprocess.run(["bash", str(SERVICES / script)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish within {timeout} s:\n{exc.stdout}\n{exc.stderr}",
                    pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{script} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}",
                    pytrace=False)
    values = {}
    for line in Path(env_file).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip('"')
    return values


@pytest.fixture(scope="session")
def slurm() -> dict[str, str]:
    """The single-node Slurm cluster (with accounting): LRMS_SLURM_* settings."""
    return start_service("start-slurm.sh", "/tmp/lrms-slurm.env")


@pytest.fixture(scope="session")
def sge() -> dict[str, str]:
    """The single-node Grid Engine cell: SGE_ROOT, SGE_CELL and LRMS_SGE_* settings."""
    return start_service("start-sge.sh", "/tmp/lrms-sge.env")


@pytest.fixture(scope="session")
def sshd() -> types.SimpleNamespace:
    """The test sshd on 127.0.0.1:2222: LRMS_SSHD_* values without the prefix, lower-cased.

    Attributes: host, port (int), user (the unprivileged ``lrmstest``), home, key,
    key_pass, key_passphrase, known_hosts, dir; ``env`` holds the raw file.
    """
    directory = Path(os.environ.get("LRMS_SSHD_DIR", "/tmp/lrms-sshd"))
    env = start_service("start-sshd.sh", str(directory / "env"))
    prefix = "LRMS_SSHD_"
    values = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
    info = types.SimpleNamespace(**values, env=env)
    info.port = int(info.port)
    return info


@pytest.fixture
def ssh_auth(sshd: types.SimpleNamespace) -> SshAuth:
    """Key login as the test user, host key checked against the sshd's known_hosts."""
    return SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=sshd.known_hosts,
                   connect_timeout=10.0)


@pytest.fixture(scope="session")
def torque(slurm: dict[str, str]) -> str:
    """Slurm's Torque wrappers (qsub, qstat, qdel, pbsnodes) driving the test Slurm cluster.

    The stand-in PBS server of the pbs backend's torque flavour; returns the
    directory holding the wrappers.
    """
    return start_service("setup-torque-wrappers.sh", "/tmp/lrms-torque.env")["LRMS_TORQUE_BIN"]
