"""Latency of one remote command over the SSH transport, next to bare paramiko.

Usage: python bench/ssh_latency.py [--n 200]

Uses the project's test sshd on 127.0.0.1 (started with tests/services/start-sshd.sh
when it does not answer).  Prints connect times, the median and 90th percentile of
``true`` run over the shared SshTransport connection, over bare paramiko with
TCP_NODELAY (the target: SshTransport at most 1.5x that), and over bare paramiko
with Nagle left on, for contrast.  Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "core" / "src"))  # when lrms is not installed

from lrms.auth import SshAuth  # noqa: E402
from lrms.transport.ssh import open_transport  # noqa: E402

ENV_FILE = Path("/tmp/lrms-sshd/env")


def sshd_env() -> dict[str, str]:
    def answers() -> bool:
        if not ENV_FILE.exists():
            return False
        env = dict(line.split("=", 1) for line in ENV_FILE.read_text().split())
        try:
            with socket.create_connection((env["LRMS_SSHD_HOST"], int(env["LRMS_SSHD_PORT"])), 2):
                return True
        except OSError:
            return False

    if not answers():
        print("starting the test sshd (tests/services/start-sshd.sh) ...", flush=True)
        subprocess.run(["bash", str(REPO / "tests/services/start-sshd.sh")], check=True)
    return dict(line.split("=", 1) for line in ENV_FILE.read_text().split())


def bare_client(env: dict[str, str], nodelay: bool) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(env["LRMS_SSHD_KNOWN_HOSTS"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    sock = socket.create_connection((env["LRMS_SSHD_HOST"], int(env["LRMS_SSHD_PORT"])), 10)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.connect(env["LRMS_SSHD_HOST"], int(env["LRMS_SSHD_PORT"]), env["LRMS_SSHD_USER"],
                   key_filename=env["LRMS_SSHD_KEY"], sock=sock, look_for_keys=False,
                   allow_agent=False)
    return client


def bare_true(client: paramiko.SSHClient) -> None:
    _, stdout, stderr = client.exec_command("true")
    stdout.channel.shutdown_write()
    stdout.read()
    stderr.read()
    stdout.channel.recv_exit_status()


def timed(action: Callable[[], object], n: int) -> list[float]:
    for _ in range(min(10, n)):  # warm up
        action()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="commands per series (200)")
    n = parser.parse_args().n
    env = sshd_env()
    auth = SshAuth(username=env["LRMS_SSHD_USER"], keyfile=env["LRMS_SSHD_KEY"],
                   known_hosts=env["LRMS_SSHD_KNOWN_HOSTS"])
    host, port = env["LRMS_SSHD_HOST"], int(env["LRMS_SSHD_PORT"])

    started = time.perf_counter()
    transport = open_transport(host, port, auth)
    connect_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    joined = open_transport(host, port, auth)  # shares the pooled connection
    join_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    fast = bare_client(env, nodelay=True)
    bare_connect_ms = (time.perf_counter() - started) * 1000
    slow = bare_client(env, nodelay=False)

    print(f"connect: SshTransport {connect_ms:.1f} ms (joining the pooled connection: "
          f"{join_ms:.3f} ms), bare paramiko {bare_connect_ms:.1f} ms")
    series = {
        "SshTransport.run(['true'])": timed(lambda: transport.run(["true"]), n),
        "bare paramiko, TCP_NODELAY": timed(lambda: bare_true(fast), n),
        "bare paramiko, Nagle on": timed(lambda: bare_true(slow), n),
    }
    results = {label: summary(samples) for label, samples in series.items()}
    print(f"\nlatency of one remote `true` over {n} runs (ms):")
    print(f"  {'':30} {'median':>8} {'p90':>8}")
    for label, (median, p90) in results.items():
        print(f"  {label:30} {median:8.2f} {p90:8.2f}")
    (lrms_median, lrms_p90), (fast_median, fast_p90), (slow_median, _) = results.values()
    print(f"\nSshTransport / bare paramiko with TCP_NODELAY: median "
          f"{lrms_median / fast_median:.2f}x, p90 {lrms_p90 / fast_p90:.2f}x (target <= 1.5x)")
    print(f"bare paramiko Nagle on / TCP_NODELAY: median {slow_median / fast_median:.2f}x")
    for handle in (joined, transport):
        handle.close()
    fast.close()
    slow.close()


if __name__ == "__main__":
    main()
