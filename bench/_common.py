"""Helpers shared by the benchmark scripts: the project's test services and timing."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lrms

SERVICES = Path(__file__).resolve().parent.parent / "tests" / "services"


def start_service(script: str, env_file: str) -> dict[str, str]:
    """Run ``tests/services/<script>`` and return the KEY=VALUE pairs of its env file."""
    subprocess.run(["bash", str(SERVICES / script)], check=True, capture_output=True)
    pairs = (line.split("=", 1) for line in Path(env_file).read_text().splitlines() if "=" in line)
    return {key: value.strip('"') for key, value in pairs}


def test_sshd() -> tuple[dict[str, str], lrms.SshAuth]:
    """The project's test sshd (started if needed): its settings and the test user's auth."""
    env = start_service("start-sshd.sh", "/tmp/lrms-sshd/env")
    auth = lrms.SshAuth(username=env["LRMS_SSHD_USER"], keyfile=env["LRMS_SSHD_KEY"],
                        known_hosts=env["LRMS_SSHD_KNOWN_HOSTS"])
    return env, auth


def timed(function: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)
