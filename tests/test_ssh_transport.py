"""The SSH transport against the project's test sshd (tests/services/start-sshd.sh).

Only 127.0.0.1 is ever contacted.  Every test is bounded by an alarm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lrms.auth import SshAuth
from lrms.errors import AuthenticationError, HostKeyError, TransportError
from lrms.transport.ssh import SshTransport, open_transport, workarounds

pytestmark = pytest.mark.ssh

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE_ENV = "LRMS_TEST_SSH_PASSPHRASE"
TEST_TIME_LIMIT = 90  # seconds per test


@pytest.fixture(autouse=True)
def time_limit():
    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def no_user_ssh_config(monkeypatch):
    """Tests never read the developer's ~/.ssh/config."""
    monkeypatch.setenv("LRMS_SSH_CONFIG", "none")


@pytest.fixture
def transport(sshd, ssh_auth):
    handle = open_transport(sshd.host, sshd.port, ssh_auth)
    yield handle
    handle.close()


@pytest.fixture
def remote_dir(transport):
    """A fresh directory in the test user's home, removed afterwards."""
    path = f"{transport.home()}/lrms-test-{uuid.uuid4().hex[:12]}"
    transport.makedirs(path)
    yield path
    with contextlib.suppress(Exception):
        transport.remove(path, recursive=True)


def service(script: str) -> None:
    done = subprocess.run(["bash", str(REPO_ROOT / "tests" / "services" / script)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"


@contextlib.contextmanager
def sshd_stopped():
    """Stop the test sshd for the block; it is started again whatever happens."""
    service("stop-sshd.sh")
    try:
        yield
    finally:
        service("start-sshd.sh")


def server_pids(sshd, handle: SshTransport) -> set[int]:
    """The sshd processes serving ``handle``'s connection (found by its local port)."""
    local_port = handle.paramiko_transport.sock.getsockname()[1]
    listing = subprocess.run(
        ["ss", "-Htnp", "state", "established",
         f"( sport = :{sshd.port} and dport = :{local_port} )"],
        capture_output=True, text=True, check=True).stdout
    listener = int(Path(sshd.dir, "sshd.pid").read_text())
    pids = {int(pid) for pid in re.findall(r"pid=(\d+)", listing)} - {listener, os.getpid()}
    assert pids, f"no sshd process found for local port {local_port}:\n{listing}"
    return pids


def kill_server_side(sshd, handle: SshTransport) -> None:
    for pid in server_pids(sshd, handle):
        with contextlib.suppress(ProcessLookupError):  # gone with the one killed before
            os.kill(pid, signal.SIGKILL)


def wait_until(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)


def host_fingerprint(sshd) -> str:
    return paramiko.PKey.from_path(f"{sshd.dir}/ssh_host_ed25519_key").fingerprint


# -- commands ---------------------------------------------------------------------------


def test_run_output_and_exit_status(transport):
    result = transport.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert transport.run(["true"]).returncode == 0
    assert transport.run(["cat"]).stdout == b""  # stdin is closed when none is given


def test_run_stdin(transport):
    assert transport.run(["cat"], stdin=b"hello\x00world").stdout == b"hello\x00world"
    big = os.urandom(3 * 1024 * 1024)  # beyond the SSH window: fed while output is read
    result = transport.run(["cat"], stdin=big, timeout=60)
    assert result.returncode == 0 and result.stdout == big


HOSTILE = [
    "", " ", "a b", "'", '"', "a'b\"c", "$(id)", "`id`", "${HOME}", "$HOME", "; echo pwned",
    "&& echo pwned", "| cat", "> /tmp/lrms-pwned", "a\nb", "\n", "\t", "*", "?", "[a-z]*", "~",
    "-n", "--", "-rf", "--help", "\\", "\\n", "ünïcödé ☃ 日本", "#comment", "!", "%s%n",
    "$(touch lrms-pwned)",
]


def test_hostile_argv_round_trips(transport):
    result = transport.check(["printf", "%s\\0", *HOSTILE])
    assert result.stdout.decode("utf-8").split("\0")[:-1] == HOSTILE
    # as argv[1:] of another program, byte for byte
    script = "import sys; sys.stdout.buffer.write(repr(sys.argv[1:]).encode())"
    assert transport.check(["python3", "-c", script, *HOSTILE]).text == repr(HOSTILE)
    assert not transport.exists("lrms-pwned")
    assert not transport.exists("/tmp/lrms-pwned")
    # a leading-dash first argument
    assert transport.run(["-definitely-not-a-command"]).returncode == 127


def test_large_stdout_and_stderr(transport):
    size = 10 * 1024 * 1024
    # stderr first and beyond the window: reading stdout alone would deadlock
    started = time.monotonic()
    result = transport.run(
        ["sh", "-c", f"head -c 3000000 /dev/zero >&2; head -c {size} /dev/urandom"], timeout=60)
    assert result.returncode == 0
    assert len(result.stdout) == size and len(result.stderr) == 3000000
    assert time.monotonic() - started < 30


def test_timeout_kills_command(transport):
    started = time.monotonic()
    with pytest.raises(TransportError, match="did not finish within 1"):
        transport.run(["sleep", "37.25"], timeout=1)
    assert time.monotonic() - started < 5

    def gone():
        return transport.run(["pgrep", "-u", "lrmstest", "-f", "sleep 37.25"]).returncode == 1

    wait_until(gone)
    assert transport.run(["echo", "still usable"]).stdout == b"still usable\n"


def test_threads_share_one_connection(transport, remote_dir):
    """Concurrent commands and SFTP calls, including commands that exit before we send
    their stdin or EOF: none may break the shared connection (no reconnect happens)."""
    transport.write_bytes(f"{remote_dir}/data", b"x" * 100_000)
    connection = transport.paramiko_transport
    errors = []

    def work(n):
        try:
            for _ in range(25):
                assert transport.run(["echo", str(n)]).stdout == f"{n}\n".encode()
                assert transport.run(["true"]).returncode == 0
                assert transport.run(["true"], stdin=b"unread" * 1000).returncode == 0
                assert transport.stat(f"{remote_dir}/data").size == 100_000
                assert transport.read_bytes(f"{remote_dir}/data") == b"x" * 100_000
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert transport.paramiko_transport is connection


def test_commands_exiting_before_their_input_is_sent(transport):
    """Commands that exit before reading their stdin while it is sent: paramiko#1115 sent
    stdin or EOF after the channel's CLOSE, and OpenSSH dropped the whole connection."""
    connection = transport.paramiko_transport
    errors = []

    def work():
        try:
            for _ in range(40):
                assert transport.run(["true"], stdin=b"x" * 40_000).returncode == 0
                assert transport.run(["true"], stdin=b"y").returncode == 0
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert transport.paramiko_transport is connection


# -- key re-exchange (the paramiko #822 and #1115 workarounds) -----------------------------


class KexLog(logging.Handler):
    """Counts the key exchanges of one paramiko transport, and those paramiko started."""

    def __init__(self, connection: paramiko.Transport) -> None:
        super().__init__(logging.DEBUG)
        self.switches = self.started_here = 0
        name = f"lrms.test.kex.{uuid.uuid4().hex[:8]}"
        connection.set_log_channel(name)
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.switches += message.startswith("Switch to new keys")
        self.started_here += message.startswith("Rekeying (hit")


def test_one_gib_through_rekeys_while_commands_run(sshd, ssh_auth):
    """1 GiB of stdin over one pooled connection while other threads run commands and the
    keys are re-exchanged again and again: for the first half by paramiko itself (its
    512 MiB trigger, lowered here to 16 MiB), then by the server (RekeyLimit 128M in
    start-sshd.sh).  Every command succeeds; the connection is never dropped or replaced."""
    handle = open_transport(sshd.host, sshd.port, ssh_auth)
    connection = handle.paramiko_transport
    kex = KexLog(connection)
    connection.packetizer.REKEY_BYTES = 16 << 20
    chunk = bytes(range(256)) * (1 << 18)  # 64 MiB
    pumped, chats, errors = [], [], []
    pumped_lock = threading.Lock()
    pumping_done = threading.Event()

    def pump():
        for _ in range(8):
            result = handle.run(["wc", "-c"], stdin=chunk, timeout=120)
            assert result.stdout.split() == [str(len(chunk)).encode()], result
            with pumped_lock:
                pumped.append(len(chunk))
                if len(pumped) == 8:  # half way: back to paramiko's default, the server's turn
                    del connection.packetizer.REKEY_BYTES

    def chat(n):
        while not pumping_done.is_set():
            result = handle.run(["sh", "-c", 'cat; echo "$1"', "sh", str(n)], stdin=b"in ")
            assert result.stdout == f"in {n}\n".encode(), result
            chats.append(n)

    def guarded(work, *args):
        try:
            work(*args)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pumps = [threading.Thread(target=guarded, args=(pump,)) for _ in range(2)]
    chatters = [threading.Thread(target=guarded, args=(chat, n)) for n in range(3)]
    try:
        for thread in pumps + chatters:
            thread.start()
        for thread in pumps:
            thread.join(80)
        pumping_done.set()
        for thread in chatters:
            thread.join(10)
        assert not [thread for thread in pumps + chatters if thread.is_alive()], "hung"
        assert not errors
        assert sum(pumped) == 1 << 30 and chats
        assert handle.paramiko_transport is connection and connection.is_active()
        assert kex.started_here >= 1, "paramiko started no key exchange"
        assert kex.switches > kex.started_here, "the server started no key exchange"
    finally:
        pumping_done.set()
        handle.close()


def rekey(connection: paramiko.Transport) -> None:
    with contextlib.suppress(EOFError, paramiko.SSHException):  # the connection closes
        connection.renegotiate_keys()


def test_stalled_key_exchange_fails_instead_of_hanging(sshd, ssh_auth):
    """A key exchange the server never answers ends a command's wait like paramiko's own
    send timeout does (clear_to_send_timeout), instead of blocking for ever."""
    handle = open_transport(sshd.host, sshd.port, ssh_auth)
    connection = handle.paramiko_transport
    connection.clear_to_send_timeout = 1.0  # paramiko's default is 30 s
    marker = f"{sshd.home}/lrms-kex-{uuid.uuid4().hex[:12]}"
    outcome = []

    def run():
        try:
            handle.run(["sh", "-c", 'touch "$1"; exec sleep 30', "sh", marker], timeout=4)
        except TransportError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    wait_until(lambda: os.path.exists(marker))
    stopped = server_pids(sshd, handle)
    try:
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)  # the server answers nothing from now on
        threading.Thread(target=rekey, args=(connection,), daemon=True).start()
        runner.join(30)
        assert not runner.is_alive(), "run() hung in a key exchange that never ends"
        assert outcome and "could not kill it: Key-exchange timed out" in str(outcome[0])
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        runner.join(30)
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(marker)


def test_paramiko_members_are_checked():
    assert workarounds.missing_members() == []
    members = {paramiko.Channel: ("lock", "no_such_member"), paramiko.Transport: ("_nope",)}
    assert workarounds.missing_members(members) == ["Channel.no_such_member", "Transport._nope"]
    with pytest.raises(TransportError) as error:
        workarounds.check_paramiko(members)
    message = str(error.value)
    assert f"paramiko {paramiko.__version__}" in message and "Channel.no_such_member" in message
    assert "pip install 'paramiko>=3.4,<6'" in message


# -- files ---------------------------------------------------------------------------------


def test_files(transport, remote_dir, tmp_path):
    local = tmp_path / "local.bin"
    payload = os.urandom(1_500_000)
    local.write_bytes(payload)
    transport.put(str(local), f"{remote_dir}/up.bin")
    assert transport.stat(f"{remote_dir}/up.bin").size == len(payload)
    transport.get(f"{remote_dir}/up.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == payload

    with transport.open(f"{remote_dir}/f.txt", "wb") as handle:
        handle.write(b"one\n")
    with transport.open(f"{remote_dir}/f.txt", "ab") as handle:
        handle.write(b"two\n")
    with transport.open(f"{remote_dir}/f.txt", "rb") as handle:
        assert handle.read(4) == b"one\n"
        assert transport.stat(f"{remote_dir}/f.txt").size == 8  # other calls while it is open
        assert handle.read() == b"two\n"
    assert transport.read_bytes(f"{remote_dir}/f.txt") == b"one\ntwo\n"
    assert transport.check(["cat", f"{remote_dir}/f.txt"]).stdout == b"one\ntwo\n"

    info = transport.stat(f"{remote_dir}/f.txt")
    assert not info.is_dir and abs(info.mtime - time.time()) < 3600
    assert transport.stat(remote_dir).is_dir
    assert sorted(transport.listdir(remote_dir)) == ["f.txt", "up.bin"]

    transport.write_bytes(f"{remote_dir}/target", b"old")
    transport.write_bytes(f"{remote_dir}/source", b"new")
    transport.rename(f"{remote_dir}/source", f"{remote_dir}/target")  # replaces
    assert transport.read_bytes(f"{remote_dir}/target") == b"new"
    assert not transport.exists(f"{remote_dir}/source")

    transport.remove(f"{remote_dir}/target")
    transport.remove(f"{remote_dir}/target")  # missing is fine
    assert not transport.exists(f"{remote_dir}/target")

    with pytest.raises(FileNotFoundError):
        transport.stat(f"{remote_dir}/missing")
    with pytest.raises(FileNotFoundError):
        transport.open(f"{remote_dir}/missing", "rb")
    with pytest.raises(FileNotFoundError):
        transport.get(f"{remote_dir}/missing", str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError):
        transport.open(f"{remote_dir}/f.txt", "r+")


def test_makedirs_modes(transport, remote_dir):
    transport.makedirs(f"{remote_dir}/a/b/c")
    modes = transport.check(
        ["stat", "-c", "%a", f"{remote_dir}/a", f"{remote_dir}/a/b", f"{remote_dir}/a/b/c"]).text
    assert modes.split() == ["700", "700", "700"]
    transport.makedirs(f"{remote_dir}/a/b/c")  # exists: fine
    transport.makedirs(f"{remote_dir}/a/x/y", mode=0o750)  # umask does not interfere
    modes = transport.check(["stat", "-c", "%a", f"{remote_dir}/a", f"{remote_dir}/a/x",
                             f"{remote_dir}/a/x/y"]).text
    assert modes.split() == ["700", "750", "750"]
    transport.write_bytes(f"{remote_dir}/file", b"")
    with pytest.raises(FileExistsError):
        transport.makedirs(f"{remote_dir}/file")


def test_remove_recursive_walk_and_home(transport, remote_dir, sshd, tmp_path):
    assert transport.home() == sshd.home
    assert transport.expanduser("~/x") == f"{sshd.home}/x"
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "top.txt").write_bytes(b"1")
    (tree / "sub" / "mid.txt").write_bytes(b"22")
    (tree / "sub" / "deeper" / "low.txt").write_bytes(b"333")
    transport.put_tree(str(tree), f"{remote_dir}/tree")
    transport.check(["ln", "-s", "top.txt", f"{remote_dir}/tree/link"])
    walked = {path: info.size for path, info in transport.walk_files(f"{remote_dir}/tree")}
    assert walked == {"top.txt": 1, "sub/mid.txt": 2, "sub/deeper/low.txt": 3, "link": 1}
    assert transport.walk_files(f"{remote_dir}/tree/top.txt")[0][0] == ""

    odd = f"{remote_dir}/-odd name; $(x)"
    transport.makedirs(f"{odd}/inner")
    transport.remove(odd, recursive=True)
    assert not transport.exists(odd)
    transport.remove(f"{remote_dir}/tree", recursive=True)
    transport.remove(f"{remote_dir}/tree", recursive=True)  # missing is fine
    assert transport.listdir(remote_dir) == []


# -- connection sharing and settings ----------------------------------------------------------


def test_connections_are_shared(sshd, ssh_auth):
    first = open_transport(sshd.host, sshd.port, ssh_auth)
    twin = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=sshd.known_hosts)
    second = open_transport(sshd.host, sshd.port, twin)
    try:
        shared = first.paramiko_transport
        assert second.paramiko_transport is shared
        first.close()
        first.close()  # idempotent
        assert shared.is_active()
        assert second.run(["true"]).returncode == 0
        with pytest.raises(TransportError, match="closed"):
            first.run(["true"])
    finally:
        second.close()
    assert not shared.is_active()  # the last handle closed the connection


def test_keepalive_nodelay_and_repr(transport, ssh_auth):
    paramiko_transport = transport.paramiko_transport
    packetizer = paramiko_transport.packetizer
    assert packetizer._Packetizer__keepalive_interval == ssh_auth.keepalive
    sock = paramiko_transport.sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
    assert repr(transport) == f"<SshTransport {ssh_auth.username}@127.0.0.1:2222>"


# -- reconnects ---------------------------------------------------------------------------------


def test_reconnect_after_server_side_kill(sshd, transport, remote_dir):
    before = transport.paramiko_transport
    kill_server_side(sshd, transport)
    assert transport.run(["echo", "again"]).stdout == b"again\n"  # whichever notices first
    assert transport.paramiko_transport is not before

    current = transport.paramiko_transport
    kill_server_side(sshd, transport)
    wait_until(lambda: not current.is_active())  # noticed before the next operation
    assert transport.stat(remote_dir).is_dir

    current = transport.paramiko_transport
    kill_server_side(sshd, transport)
    wait_until(lambda: not current.is_active())
    assert transport.listdir(remote_dir) == []


def test_drop_during_sftp_operation_is_retried_once(transport, remote_dir, monkeypatch):
    real_stat = paramiko.SFTPClient.stat
    calls = []

    def dropping_stat(self, path):
        calls.append(path)
        if len(calls) == 1:
            self.get_channel().get_transport().close()  # the connection dies mid-operation
            raise EOFError("simulated drop")
        return real_stat(self, path)

    monkeypatch.setattr(paramiko.SFTPClient, "stat", dropping_stat)
    assert transport.stat(remote_dir).is_dir
    assert len(calls) == 2

    def always_dropping_stat(self, path):
        self.get_channel().get_transport().close()
        raise EOFError("simulated drop")

    monkeypatch.setattr(paramiko.SFTPClient, "stat", always_dropping_stat)
    with pytest.raises(TransportError, match=r"lost connection to lrmstest@127\.0\.0\.1:2222"):
        transport.stat(remote_dir)
    monkeypatch.setattr(paramiko.SFTPClient, "stat", real_stat)
    assert transport.stat(remote_dir).is_dir


def test_run_is_retried_only_before_exec(transport, remote_dir, monkeypatch):
    real_open = paramiko.Transport.open_session
    opened = []

    def dropping_open(self, *args, **kwargs):
        opened.append(1)
        if len(opened) == 1:
            self.close()
            raise paramiko.SSHException("simulated drop")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(paramiko.Transport, "open_session", dropping_open)
    marker = f"{remote_dir}/runs"
    transport.check(["sh", "-c", 'echo x >> "$1"', "sh", marker])
    assert len(opened) == 2
    monkeypatch.setattr(paramiko.Transport, "open_session", real_open)

    real_exec = paramiko.Channel.exec_command

    def exec_then_drop(self, command):
        real_exec(self, command)  # the command started...
        time.sleep(0.5)
        self.get_transport().close()  # ...and then the connection dropped
        raise EOFError("simulated drop")

    monkeypatch.setattr(paramiko.Channel, "exec_command", exec_then_drop)
    with pytest.raises(TransportError, match="not retried"):
        transport.run(["sh", "-c", 'echo x >> "$1"', "sh", marker])
    monkeypatch.setattr(paramiko.Channel, "exec_command", real_exec)
    assert transport.read_bytes(marker) == b"x\nx\n"  # ran once each time, never twice


def test_drop_while_command_runs_is_not_retried(sshd, transport, remote_dir):
    marker = f"{remote_dir}/started"
    killer = threading.Timer(1.0, kill_server_side, (sshd, transport))
    killer.start()
    try:
        with pytest.raises(TransportError, match="not retried"):
            transport.run(["sh", "-c", 'echo x >> "$1"; sleep 5', "sh", marker], timeout=20)
    finally:
        killer.join()
    assert transport.read_bytes(marker) == b"x\n"  # started once, not run again


def test_sshd_restart_recovers(transport, remote_dir):
    with sshd_stopped():
        pass
    assert transport.run(["echo", "back"]).stdout == b"back\n"
    assert transport.stat(remote_dir).is_dir


def test_sshd_down_raises_transport_error(transport, remote_dir):
    with sshd_stopped():
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"lost connection to lrmstest@127\.0\.0\.1:2222"):
            transport.stat(remote_dir)
        with pytest.raises(TransportError, match="lost connection"):
            transport.run(["true"])
        assert time.monotonic() - started < 10
    assert transport.stat(remote_dir).is_dir  # and it recovers once sshd is back


# -- authentication --------------------------------------------------------------------------


def test_wrong_username(sshd, ssh_auth):
    auth = SshAuth(username="nosuchuser", keyfile=sshd.key, known_hosts=sshd.known_hosts)
    with pytest.raises(AuthenticationError, match=r"nosuchuser@127\.0\.0\.1:2222"):
        open_transport(sshd.host, sshd.port, auth)


def test_missing_key_file(sshd, tmp_path):
    missing = str(tmp_path / "no_such_key")
    auth = SshAuth(username=sshd.user, keyfile=missing, known_hosts=sshd.known_hosts)
    with pytest.raises(AuthenticationError, match=re.escape(missing)):
        open_transport(sshd.host, sshd.port, auth)


def test_passphrase_key(sshd, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    auth = SshAuth(username=sshd.user, keyfile=sshd.key_pass, known_hosts=sshd.known_hosts)
    with pytest.raises(AuthenticationError, match="passphrase_env"):
        open_transport(sshd.host, sshd.port, auth)

    with_env = SshAuth(username=sshd.user, keyfile=sshd.key_pass, known_hosts=sshd.known_hosts,
                       passphrase_env=PASSPHRASE_ENV)
    with pytest.raises(AuthenticationError, match=f"passphrase_env.*{PASSPHRASE_ENV}"):
        open_transport(sshd.host, sshd.port, with_env)  # variable unset

    monkeypatch.setenv(PASSPHRASE_ENV, "wrong-pass")
    with pytest.raises(AuthenticationError) as wrong:
        open_transport(sshd.host, sshd.port, with_env)
    assert "wrong-pass" not in str(wrong.value)

    monkeypatch.setenv(PASSPHRASE_ENV, sshd.key_passphrase)
    handle = open_transport(sshd.host, sshd.port, with_env)
    try:
        assert handle.run(["whoami"]).text.strip() == sshd.user
        texts = [repr(handle), repr(with_env), repr(handle._target), caplog.text]
    finally:
        handle.close()
    for text in texts:
        assert sshd.key_passphrase not in text


# -- reaching the host --------------------------------------------------------------------------


def test_connection_refused_is_quick(sshd, ssh_auth):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"(?i)refused"):
        open_transport("127.0.0.1", port, ssh_auth)
    assert time.monotonic() - started < 3


def test_connect_timeout_on_silent_server(sshd):
    with socket.socket() as silent:  # accepts TCP (backlog) but never says anything
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        auth = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=sshd.known_hosts,
                       connect_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(TransportError):
            open_transport("127.0.0.1", silent.getsockname()[1], auth)
        assert time.monotonic() - started < 6


# -- host keys -------------------------------------------------------------------------------------


def test_unknown_host_key_is_refused(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    auth = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=str(known_hosts))
    with pytest.raises(HostKeyError) as error:
        open_transport(sshd.host, sshd.port, auth)
    message = str(error.value)
    assert f"ssh-keyscan -p {sshd.port} {sshd.host} >> {known_hosts}" in message
    assert host_fingerprint(sshd) in message
    assert "accept-new" in message
    assert known_hosts.read_text() == ""
    missing = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=str(tmp_path / "none"))
    with pytest.raises(HostKeyError):
        open_transport(sshd.host, sshd.port, missing)


def test_accept_new_records_the_key(sshd, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="lrms.transport.ssh")
    known_hosts = tmp_path / "ssh" / "known_hosts"  # neither exists yet
    auth = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=str(known_hosts),
                   host_key_policy="accept-new")
    handle = open_transport(sshd.host, sshd.port, auth)
    handle.close()
    host_key = Path(sshd.dir, "ssh_host_ed25519_key.pub").read_text().split()[:2]
    assert known_hosts.read_text() == f"[{sshd.host}]:{sshd.port} {' '.join(host_key)}\n"
    assert "accepted new host key" in caplog.text
    assert host_fingerprint(sshd) in caplog.text
    # from now on the key is known, even under "reject"
    strict = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=str(known_hosts))
    handle = open_transport(sshd.host, sshd.port, strict)
    handle.close()


def test_changed_host_key_is_always_refused(sshd, tmp_path):
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    known_hosts = tmp_path / "known_hosts"
    content = f"# an old key\n[{sshd.host}]:{sshd.port} {other}\n"
    known_hosts.write_text(content)
    for policy in ("reject", "accept-new"):
        auth = SshAuth(username=sshd.user, keyfile=sshd.key, known_hosts=str(known_hosts),
                       host_key_policy=policy)
        with pytest.raises(HostKeyError, match="CHANGED") as error:
            open_transport(sshd.host, sshd.port, auth)
        assert f"{known_hosts}:2" in str(error.value)
        assert host_fingerprint(sshd) in str(error.value)
    assert known_hosts.read_text() == content


# -- ssh config --------------------------------------------------------------------------------


def test_ssh_config_is_honoured(sshd, tmp_path, monkeypatch):
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host lrms-alias\n  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.key}\n"
        f"Host lrms-other-user\n  HostName {sshd.host}\n  Port {sshd.port}\n  User nosuchuser\n"
        f"  IdentityFile {sshd.key}\n")
    auth = SshAuth(known_hosts=sshd.known_hosts)  # nothing else: all from the config
    handle = open_transport("lrms-alias", None, auth, ssh_config=str(config))
    try:
        assert handle.run(["whoami"]).text.strip() == sshd.user
    finally:
        handle.close()

    monkeypatch.setenv("LRMS_SSH_CONFIG", str(config))
    handle = open_transport("lrms-alias", None, auth)
    handle.close()
    with pytest.raises(AuthenticationError, match="nosuchuser"):
        open_transport("lrms-other-user", None, auth)
    # explicit settings win over the config
    handle = open_transport("lrms-other-user", None, SshAuth(
        username=sshd.user, known_hosts=sshd.known_hosts))
    handle.close()

    monkeypatch.setenv("LRMS_SSH_CONFIG", str(tmp_path / "missing"))
    with pytest.raises(TransportError, match="LRMS_SSH_CONFIG"):
        open_transport("lrms-alias", None, auth)


def test_defaults_from_home_ssh_config(sshd, tmp_path, monkeypatch):
    """No auth at all (a resource without an auth section): ~/.ssh does everything."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(Path(sshd.known_hosts).read_text())
    (home / ".ssh" / "config").write_text(
        f"Host lrms-home\n  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.key}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LRMS_SSH_CONFIG")
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    handle = open_transport("lrms-home", None, None)
    try:
        assert handle.home() == sshd.home
    finally:
        handle.close()


def test_proxy_jump(sshd, ssh_auth, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(f"Host jumped\n  HostName {sshd.host}\n  Port {sshd.port}\n"
                      f"  ProxyJump {sshd.user}@{sshd.host}:{sshd.port}\n")
    direct = open_transport(sshd.host, sshd.port, ssh_auth)
    jumped = open_transport("jumped", None, ssh_auth, ssh_config=str(config))
    try:
        assert isinstance(jumped.paramiko_transport.sock, paramiko.Channel)
        assert jumped.paramiko_transport is not direct.paramiko_transport
        assert jumped._conn._jump is direct._conn  # the hop reuses the pooled connection
        assert jumped.run(["echo", "through the jump"]).stdout == b"through the jump\n"
        assert jumped.home() == sshd.home
    finally:
        jumped.close()
        direct.close()


def test_proxy_command(sshd, ssh_auth, tmp_path):
    proxy = (f"ssh -F /dev/null -i {sshd.key} -o IdentitiesOnly=yes -o BatchMode=yes "
             f"-o UserKnownHostsFile={sshd.known_hosts} -o StrictHostKeyChecking=yes "
             f"-p {sshd.port} {sshd.user}@{sshd.host} -W %h:%p")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host proxied\n  HostName {sshd.host}\n  Port {sshd.port}\n"
                      f"  ProxyCommand {proxy}\n")
    handle = open_transport("proxied", None, ssh_auth, ssh_config=str(config))
    try:
        assert isinstance(handle.paramiko_transport.sock, paramiko.ProxyCommand)
        assert handle.run(["echo", "proxied"]).stdout == b"proxied\n"
    finally:
        handle.close()
