"""Tests of the shellcmd job wrapper: real processes, no mocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lrms_shellcmd import wrapper

WRAPPER_PY = os.path.abspath(wrapper.__file__)
SRC_DIR = os.path.dirname(os.path.dirname(WRAPPER_PY))


# --------------------------------------------------------------------------
# helpers


def proc_stat(pid: int | str) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, session) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def live_in_pgid(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that are not zombies."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(name)
            if st is not None and st[2] == pgid and st[0] not in ("Z", "X"):
                found.append(int(name))
    return found


def wait_for(predicate, timeout: float, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


class Env:
    """A spool plus helpers to create sandboxes and run jobs in them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spool = str(root / "spool")
        os.mkdir(self.spool, 0o700)
        self.sandboxes: list[str] = []
        self.count = 0

    def make(self, argv: list[str], jobid: str | None = None, **fields) -> str:
        self.count += 1
        jobid = jobid or f"job{self.count}"
        sandbox = str(self.root / f"sandbox-{jobid}")
        os.mkdir(sandbox, 0o700)
        os.mkdir(os.path.join(sandbox, ".lrms"))
        job = {
            "jobid": jobid,
            "argv": argv,
            "environment": {},
            "stdout": "stdout",
            "stderr": "stderr",
            "stdin": None,
            "walltime": None,
            "cores": 1,
        }
        job.update(fields)
        with open(os.path.join(sandbox, ".lrms", "job.json"), "w") as f:
            json.dump(job, f)
        self.sandboxes.append(sandbox)
        return sandbox

    def submit(self, argv: list[str], **fields) -> str:
        sandbox = self.make(argv, **fields)
        jobid = self.jobid(sandbox)
        assert wrapper.reserve(self.spool, jobid, fields.get("cores", 1), 1000)
        pid = wrapper.launch(self.spool, sandbox)
        assert isinstance(pid, int) and pid > 0
        return sandbox

    @staticmethod
    def jobid(sandbox: str) -> str:
        with open(os.path.join(sandbox, ".lrms", "job.json")) as f:
            return json.load(f)["jobid"]

    @staticmethod
    def started(sandbox: str) -> dict:
        with open(os.path.join(sandbox, ".lrms", "started")) as f:
            return json.load(f)

    @staticmethod
    def wait_phase(sandbox: str, phase: str, timeout: float = 10.0) -> dict:
        def check():
            state = wrapper.read_state(sandbox)
            return state if state["phase"] == phase else None

        return wait_for(check, timeout)

    def wait_ended(self, sandbox: str, timeout: float = 10.0) -> dict:
        return self.wait_phase(sandbox, "ended", timeout)

    def run(self, argv: list[str], timeout: float = 10.0, **fields) -> dict:
        return self.wait_ended(self.submit(argv, **fields), timeout)

    def read(self, sandbox: str, name: str) -> str:
        with open(os.path.join(sandbox, name)) as f:
            return f.read()

    def cleanup(self) -> None:
        """Cancel whatever still runs and check that no job process is left."""
        time.sleep(0.05)  # let just-launched wrappers write `started`
        for sandbox in self.sandboxes:
            if wrapper.read_state(sandbox)["phase"] == "running":
                wrapper.cancel(sandbox)
        for sandbox in self.sandboxes:
            if wrapper.read_state(sandbox)["phase"] == "running":
                self.wait_ended(sandbox, timeout=15)
            if os.path.exists(os.path.join(sandbox, ".lrms", "started")):
                pgid = self.started(sandbox)["pgid"]
                wait_for(lambda pgid=pgid: not live_in_pgid(pgid), 5)


@pytest.fixture
def env(tmp_path: Path):
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()


@pytest.fixture(params=["default", "fallbacks"])
def impl(request, monkeypatch):
    """Run a test with the fast paths and once more with the portable fallbacks
    (fork+exec with an errno pipe, polling instead of sigtimedwait, no waitid, a
    /proc scan instead of the children files, kill() instead of pidfds).
    The launch()ed wrapper is a fork of this process, so it sees the flags."""
    if request.param == "fallbacks":
        monkeypatch.setattr(wrapper, "_USE_POSIX_SPAWN", False)
        monkeypatch.setattr(wrapper, "_HAVE_SIGTIMEDWAIT", False)
        monkeypatch.setattr(wrapper, "_HAVE_WAITID", False)
        monkeypatch.setattr(wrapper, "_HAVE_CHILDREN_FILES", False)
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    return request.param


STATUS_KEYS = {
    "exitcode",
    "signal",
    "start",
    "end",
    "walltime",
    "cputime",
    "maxrss_kib",
    "reason",
    "error",
}


def check_status(state: dict) -> None:
    assert state["phase"] == "ended"
    assert set(state) >= STATUS_KEYS
    assert (state["exitcode"] is None) != (state["signal"] is None)
    assert state["start"] <= state["end"]
    assert state["walltime"] >= 0


# --------------------------------------------------------------------------
# outcomes


def test_success_captures_output(env: Env, impl: str) -> None:
    sandbox = env.submit(["sh", "-c", "echo hello; echo oops >&2"])
    state = env.wait_ended(sandbox)
    check_status(state)
    assert state["exitcode"] == 0
    assert state["signal"] is None
    assert state["reason"] == "exited"
    assert state["error"] is None
    assert state["sandbox"] == sandbox
    assert env.read(sandbox, "stdout") == "hello\n"
    assert env.read(sandbox, "stderr") == "oops\n"
    started = env.started(sandbox)
    assert set(started) == {"start", "wrapper_pid", "wrapper_start", "boot_id", "pgid",
                            "job_start", "cgroup", "spool", "jobid"}
    assert abs(started["start"] - state["start"]) < 1e-6
    # the slot was given back when the job ended
    assert not os.path.exists(os.path.join(env.spool, "active", env.jobid(sandbox)))
    assert wrapper.usage(env.spool)["running"] == 0


def test_exit_code(env: Env, impl: str) -> None:
    state = env.run(["sh", "-c", "exit 3"])
    check_status(state)
    assert (state["exitcode"], state["signal"], state["reason"]) == (3, None, "exited")


def test_killed_by_signal(env: Env, impl: str) -> None:
    state = env.run(["sh", "-c", "kill -9 $$"])
    check_status(state)
    assert (state["exitcode"], state["signal"], state["reason"]) == (None, 9, "signalled")


def test_walltime(env: Env, impl: str) -> None:
    t0 = time.monotonic()
    state = env.run(["sleep", "30"], walltime=1, grace=2)
    check_status(state)
    assert time.monotonic() - t0 < 5
    assert (state["exitcode"], state["signal"], state["reason"]) == (None, 15, "walltime")
    assert 0.9 <= state["walltime"] < 4


def test_walltime_sigkill_after_grace(env: Env) -> None:
    # sh and its sleep child both ignore SIGTERM: only the SIGKILL after grace ends them
    sandbox = env.submit(["sh", "-c", "trap '' TERM; sleep 30; true"], walltime=0.5, grace=1)
    state = env.wait_ended(sandbox)
    check_status(state)
    assert (state["signal"], state["reason"]) == (9, "walltime")
    assert 1.4 <= state["walltime"] < 4
    wait_for(lambda: not live_in_pgid(env.started(sandbox)["pgid"]), 5)


def test_cancel_kills_whole_process_group(env: Env, impl: str) -> None:
    sandbox = env.submit(["sh", "-c", "sleep 100 & sleep 100; wait"])
    env.wait_phase(sandbox, "running")
    pgid = env.started(sandbox)["pgid"]
    wait_for(lambda: len(live_in_pgid(pgid)) >= 3, 5)  # sh + 2 sleeps
    assert wrapper.cancel(sandbox) is True
    state = env.wait_ended(sandbox, timeout=5)
    check_status(state)
    assert state["reason"] == "cancelled"
    assert state["signal"] == 15
    wait_for(lambda: not live_in_pgid(pgid), 3)
    assert wrapper.cancel(sandbox) is False  # already ended


def test_cancel_sigkill_after_grace(env: Env) -> None:
    sandbox = env.submit(["sh", "-c", "trap '' TERM; sleep 30; true"], grace=0.5)
    env.wait_phase(sandbox, "running")
    pgid = env.started(sandbox)["pgid"]
    wait_for(lambda: len(live_in_pgid(pgid)) >= 2, 5)
    t0 = time.monotonic()
    assert wrapper.cancel(sandbox)
    state = env.wait_ended(sandbox, timeout=5)
    assert 0.4 <= time.monotonic() - t0 < 3
    assert (state["signal"], state["reason"]) == (9, "cancelled")
    wait_for(lambda: not live_in_pgid(pgid), 3)


def test_leftover_group_members_killed_at_job_end(env: Env) -> None:
    # the leader exits at once; its background child (immune to TERM/HUP) must not survive
    sandbox = env.submit(["sh", "-c", "(trap '' TERM HUP; sleep 100) & echo $! > bg.pid"])
    state = env.wait_ended(sandbox)
    assert (state["exitcode"], state["reason"]) == (0, "exited")
    pgid = env.started(sandbox)["pgid"]
    bg = int(env.read(sandbox, "bg.pid"))
    wait_for(lambda: not live_in_pgid(pgid), 3)
    st = proc_stat(bg)
    assert st is None or st[0] in ("Z", "X")


def test_cancel_before_start(env: Env) -> None:
    sandbox = env.make(["sh", "-c", "touch ran"])
    assert wrapper.read_state(sandbox)["phase"] == "launched"
    assert wrapper.cancel(sandbox) is True
    assert wrapper.reserve(env.spool, env.jobid(sandbox), 1, 10)
    wrapper.launch(env.spool, sandbox)
    state = env.wait_ended(sandbox)
    check_status(state)
    assert state["reason"] == "cancelled"
    assert not os.path.exists(os.path.join(sandbox, "ran"))
    assert wrapper.usage(env.spool)["used_cores"] == 0


def test_executable_not_found(env: Env, impl: str) -> None:
    for argv0, said in (("/nonexistent/program", "No such file or directory"),
                        ("no-such-command-lrms-xyz", "not found in the job's PATH")):
        state = env.run([argv0, "arg"])
        check_status(state)
        assert (state["exitcode"], state["signal"], state["reason"]) == (127, None, "failed")
        assert state["error"] == f"cannot execute {argv0!r} on this host: {said}"


def test_not_executable(env: Env, impl: str) -> None:
    sandbox = env.make(["./script.sh"])
    with open(os.path.join(sandbox, "script.sh"), "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(os.path.join(sandbox, "script.sh"), 0o644)
    assert wrapper.reserve(env.spool, env.jobid(sandbox), 1, 10)
    wrapper.launch(env.spool, sandbox)
    state = env.wait_ended(sandbox)
    assert (state["exitcode"], state["reason"]) == (126, "failed")
    assert state["error"] == ("cannot execute './script.sh' on this host: Permission denied: the "
                              "file is not executable (chmod +x it, or run it with its "
                              "interpreter)")


def test_missing_stdin_file_fails(env: Env) -> None:
    state = env.run(["cat"], stdin="no-such-input")
    assert (state["exitcode"], state["reason"]) == (126, "failed")
    assert "no-such-input" in state["error"]


def test_stdin_file_and_devnull(env: Env) -> None:
    sandbox = env.make(["cat"], stdin="input.txt")
    with open(os.path.join(sandbox, "input.txt"), "w") as f:
        f.write("line 1\nline 2\n")
    assert wrapper.reserve(env.spool, env.jobid(sandbox), 1, 10)
    wrapper.launch(env.spool, sandbox)
    assert env.wait_ended(sandbox)["exitcode"] == 0
    assert env.read(sandbox, "stdout") == "line 1\nline 2\n"
    # no stdin: /dev/null, so cat ends at once
    sandbox = env.submit(["cat"])
    assert env.wait_ended(sandbox, timeout=5)["exitcode"] == 0
    assert env.read(sandbox, "stdout") == ""


def test_joined_stdout_stderr(env: Env) -> None:
    sandbox = env.submit(
        ["sh", "-c", "echo one; echo two >&2; echo three"], stdout="out.txt", stderr="out.txt"
    )
    assert env.wait_ended(sandbox)["exitcode"] == 0
    assert env.read(sandbox, "out.txt") == "one\ntwo\nthree\n"
    assert not os.path.exists(os.path.join(sandbox, "stderr"))


def test_output_files_are_appended(env: Env) -> None:
    sandbox = env.make(["echo", "new"])
    with open(os.path.join(sandbox, "stdout"), "w") as f:
        f.write("old\n")
    assert wrapper.reserve(env.spool, env.jobid(sandbox), 1, 10)
    wrapper.launch(env.spool, sandbox)
    env.wait_ended(sandbox)
    assert env.read(sandbox, "stdout") == "old\nnew\n"


def test_environment(env: Env, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LRMS_INHERITED", "from-parent")
    state_sandbox = env.submit(
        ["sh", "-c", 'printf "%s|%s|%s" "$LRMS_A" "$LRMS_B" "$LRMS_INHERITED"'],
        environment={"LRMS_A": "hello world", "LRMS_B": "x=$(id) `y` *"},
    )
    assert env.wait_ended(state_sandbox)["exitcode"] == 0
    assert env.read(state_sandbox, "stdout") == "hello world|x=$(id) `y` *|from-parent"


def test_job_path_used_for_lookup(env: Env, impl: str, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "lrms-test-tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    path = f"{bindir}:/usr/bin:/bin"
    sandbox = env.submit(["lrms-test-tool"], environment={"PATH": path})
    state = env.wait_ended(sandbox)
    assert state["exitcode"] == 0, state
    assert env.read(sandbox, "stdout") == "tool ran\n"
    # only the job's PATH is searched: "sh" is not in it
    state = env.run(["sh", "-c", "true"], environment={"PATH": str(bindir)})
    assert (state["exitcode"], state["reason"]) == (127, "failed")
    # found but not executable: EACCES, like execvp()
    (bindir / "not-exec").write_text("#!/bin/sh\n")
    state = env.run(["not-exec"], environment={"PATH": str(bindir)})
    assert (state["exitcode"], state["reason"]) == (126, "failed")


HOSTILE = [
    "plain",
    "with space",
    "'single'",
    '"double"',
    "$(id)",
    "`id`",
    "$HOME",
    "a\nb\nc",
    "*",
    "?[a-z]",
    "-n",
    "--help",
    "-",
    "",
    " ",
    "back\\slash",
    "semi;colon && true || false | cat > x < y",
    "tab\there",
    "ünïcødé ✓ 日本",
    "\u200b",
    "%s%n",
]


def test_hostile_argv_arrives_verbatim(env: Env, impl: str) -> None:
    code = "import sys,json; json.dump(sys.argv[1:], open('out.json','w'))"
    sandbox = env.submit([sys.executable, "-c", code, *HOSTILE])
    assert env.wait_ended(sandbox)["exitcode"] == 0
    with open(os.path.join(sandbox, "out.json")) as f:
        assert json.load(f) == HOSTILE
    assert not os.path.exists(os.path.join(sandbox, "x"))


def test_job_process_state_is_clean(env: Env, tmp_path: Path) -> None:
    # an inheritable fd in the launching process must not reach the job
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_w, True)
    high = os.dup2(leak_w, 57)
    try:
        stat_job = env.submit(["cat", "/proc/self/stat"])
        sig_job = env.submit(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
        fd_job = env.submit(["ls", "/proc/self/fd"])
        for sandbox in (stat_job, sig_job, fd_job):
            assert env.wait_ended(sandbox)["exitcode"] == 0
    finally:
        os.close(high)
        os.close(leak_r)
        os.close(leak_w)
    stat = env.read(stat_job, "stdout")
    fields = stat[stat.rindex(")") + 2 :].split()
    pid, pgrp, session = int(stat.split()[0]), int(fields[2]), int(fields[3])
    assert pgrp == pid == env.started(stat_job)["pgid"]  # own process group
    assert session != os.getsid(0)  # detached from our session
    sigs = dict(line.split(":\t") for line in env.read(sig_job, "stdout").splitlines())
    assert int(sigs["SigBlk"], 16) == 0
    # glibc's posix_spawn sets its internal signals 32/33 to SIG_IGN; nothing else may be
    assert int(sigs["SigIgn"], 16) & ~((1 << 31) | (1 << 32)) == 0, sigs
    fds = set(env.read(fd_job, "stdout").split())
    assert fds <= {"0", "1", "2", "3"}, fds  # 3: ls' own directory handle


# --------------------------------------------------------------------------
# slots


RESERVER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {src!r})
    from lrms_shellcmd.wrapper import reserve
    spool, idx, go = sys.argv[1:4]
    while not os.path.exists(go):
        time.sleep(0.001)
    print(json.dumps([k for k in range(10) if reserve(spool, "p%s-%d" % (idx, k), 1, 7)]))
    """
)


def test_reserve_respects_max_cores_concurrently(env: Env, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = RESERVER.format(src=SRC_DIR)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, env.spool, str(i), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    time.sleep(0.3)
    go.touch()
    granted = []
    for i, p in enumerate(procs):
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0
        granted += [f"p{i}-{k}" for k in json.loads(out)]
    assert len(granted) == 7
    assert sorted(os.listdir(os.path.join(env.spool, "active"))) == sorted(granted)
    use = wrapper.usage(env.spool)
    assert (use["used_cores"], use["running"]) == (7, 7)
    assert not wrapper.reserve(env.spool, "another", 1, 7)
    wrapper.release(env.spool, granted[0])
    wrapper.release(env.spool, granted[0])  # idempotent
    assert wrapper.reserve(env.spool, "another", 1, 7)
    assert not wrapper.reserve(env.spool, "yet-another", 1, 7)
    # multi-core requests
    wrapper.release(env.spool, granted[1])
    wrapper.release(env.spool, granted[2])
    assert not wrapper.reserve(env.spool, "big", 3, 7)
    assert wrapper.reserve(env.spool, "big", 2, 7)
    assert wrapper.usage(env.spool)["used_cores"] == 7


def test_stale_entries_of_another_boot_are_ignored(env: Env) -> None:
    active = os.path.join(env.spool, "active")
    os.mkdir(active, 0o700)
    with open(os.path.join(active, "old"), "w") as f:
        json.dump({"cores": 4, "boot_id": "00000000-not-this-boot"}, f)
    with open(os.path.join(active, "garbage"), "w") as f:
        f.write("{not json")
    with open(os.path.join(active, ".half-written.123.tmp"), "w") as f:
        json.dump({"cores": 4, "boot_id": wrapper._boot_id()}, f)  # temp files never count
    assert wrapper.usage(env.spool)["used_cores"] == 0  # not counted, not deleted
    assert wrapper.reserve(env.spool, "cur", 1, 2)
    assert wrapper.reserve(env.spool, "cur2", 1, 2)
    assert not wrapper.reserve(env.spool, "cur3", 1, 2)
    # stale entries are purged under the lock
    assert sorted(os.listdir(active)) == [".half-written.123.tmp", "cur", "cur2"]
    with open(os.path.join(active, "cur")) as f:
        entry = json.load(f)
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert entry == {"cores": 1, "boot_id": f.read().strip(), "cpus": [0]}


def test_usage(env: Env) -> None:
    assert wrapper.usage(env.spool) == {
        "used_cores": 0,
        "running": 0,
        "cpus": os.cpu_count(),
        "memory_bytes": wrapper.usage(env.spool)["memory_bytes"],
        "enforced": wrapper.enforcement(),
    }
    assert wrapper.reserve(env.spool, "a", 2, 8)
    assert wrapper.reserve(env.spool, "b", 1, 8)
    use = wrapper.usage(env.spool)
    assert (use["used_cores"], use["running"]) == (3, 2)
    with open("/proc/meminfo") as f:
        kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    assert use["memory_bytes"] == kib * 1024
    with pytest.raises(ValueError):
        wrapper.reserve(env.spool, "../escape", 1, 8)


# --------------------------------------------------------------------------
# detachment, script mode


def test_job_survives_the_submitting_process(env: Env) -> None:
    sandbox = env.make(["sh", "-c", "sleep 1; echo done"], jobid="survivor")
    code = (
        f"import sys; sys.path.insert(0, {SRC_DIR!r}); from lrms_shellcmd import wrapper as w; "
        f"assert w.reserve({env.spool!r}, 'survivor', 1, 4); "
        f"print(w.launch({env.spool!r}, {sandbox!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, timeout=30, check=True
    ).stdout
    wrapper_pid = int(out)
    st = proc_stat(wrapper_pid)
    assert st is None or st[1] != os.getpid()  # not our child
    assert wrapper.read_state(sandbox)["phase"] in ("launched", "running")
    state = env.wait_ended(sandbox)
    assert (state["exitcode"], state["reason"]) == (0, "exited")
    assert env.read(sandbox, "stdout") == "done\n"


def run_script(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-S", WRAPPER_PY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_script_mode(env: Env) -> None:
    sandbox = env.make(["sh", "-c", "sleep 3; echo late"], jobid="remote1", cores=2)
    t0 = time.monotonic()
    res = run_script("submit", env.spool, "remote1", sandbox, "3")
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["ok"] is True and isinstance(answer["wrapper_pid"], int)
    # the job sleeps 3 s: returning well before proves the detached wrapper and the
    # job hold none of our pipes (typically ~0.1 s; generous bound for loaded hosts)
    assert elapsed < 2.0, elapsed

    other = env.make(["true"], jobid="remote2", cores=2)
    res = run_script("submit", env.spool, "remote2", other, "3")
    assert res.returncode == 0
    assert json.loads(res.stdout) == {"ok": False, "full": True, "used_cores": 2}

    res = run_script("usage", env.spool)
    assert res.returncode == 0
    use = json.loads(res.stdout)
    assert (use["used_cores"], use["running"], use["cpus"]) == (2, 1, os.cpu_count())

    wait_for(lambda: wrapper.read_state(sandbox)["phase"] == "running", 5)
    res = run_script("status", sandbox, other, str(env.root / "nowhere"))
    states = json.loads(res.stdout)
    assert [s["phase"] for s in states] == ["running", "launched", "missing"]
    assert [s["sandbox"] for s in states] == [sandbox, other, str(env.root / "nowhere")]

    res = run_script("cancel", sandbox)
    assert json.loads(res.stdout) == [True]
    state = env.wait_ended(sandbox, timeout=5)
    assert state["reason"] == "cancelled"
    res = run_script("status", sandbox)
    assert json.loads(res.stdout)[0]["reason"] == "cancelled"
    res = run_script("cancel", sandbox)
    assert json.loads(res.stdout) == [False]
    assert json.loads(run_script("usage", env.spool).stdout)["used_cores"] == 0


def test_script_mode_job_runs_to_completion(env: Env) -> None:
    sandbox = env.make(["sh", "-c", "sleep 0.5; echo fine"], jobid="remote3")
    res = run_script("submit", env.spool, "remote3", sandbox, "1")
    assert json.loads(res.stdout)["ok"] is True
    state = env.wait_ended(sandbox)
    assert (state["exitcode"], state["reason"]) == (0, "exited")
    assert env.read(sandbox, "stdout") == "fine\n"


def test_find_names_the_wrapper_of_a_launched_job(env: Env) -> None:
    """find() answers for a sandbox named after its job: the wrapper's pid once launched."""
    jobs = env.root / "jobs"
    jobs.mkdir()
    sandbox = str(jobs / "job-a")
    os.rename(env.make(["sh", "-c", "sleep 0.2"], jobid="job-a"), sandbox)
    env.sandboxes[-1] = sandbox
    assert wrapper.find(sandbox) is None  # job.json written, no wrapper started yet
    res = run_script("submit", env.spool, "job-a", sandbox, "1")
    pid = json.loads(res.stdout)["wrapper_pid"]
    assert wrapper.find(sandbox) == pid  # as soon as submit has answered
    other = str(jobs / "job-b")  # a job.json naming another job does not count
    os.rename(env.make(["true"], jobid="job-c"), other)
    env.sandboxes[-1] = other
    res = run_script("find", sandbox, other, str(jobs / "nowhere"))
    assert (res.returncode, json.loads(res.stdout)) == (0, [pid, None, None])
    env.wait_ended(sandbox)
    assert wrapper.find_all([sandbox]) == [pid]


def test_script_bad_usage(env: Env) -> None:
    for args in ([], ["bogus"], ["status"], ["find"], ["usage"], ["submit", "a", "b"]):
        res = run_script(*args)
        assert res.returncode == 2, args
        assert "usage:" in res.stderr
        assert res.stdout == ""
    res = run_script("submit", env.spool, "j", "/nonexistent", "notanumber")
    assert res.returncode == 2
    sandbox = env.make(["true"], jobid="mismatch")
    res = run_script("submit", env.spool, "other-id", sandbox, "4")
    assert res.returncode == 1
    assert json.loads(res.stdout)["ok"] is False
    assert wrapper.usage(env.spool)["used_cores"] == 0


# --------------------------------------------------------------------------
# resources, misc


def test_rusage_is_plausible(env: Env) -> None:
    mem = env.run([sys.executable, "-c", "b = b'x' * (50 << 20)"])
    assert mem["exitcode"] == 0
    assert mem["maxrss_kib"] > 40000
    busy = env.run(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass",
        ]
    )
    assert busy["exitcode"] == 0
    assert 0.3 < busy["cputime"] < 5
    assert busy["walltime"] >= 0.45


def test_wrapper_idles_without_cpu(env: Env) -> None:
    sandbox = env.submit(["sleep", "30"], walltime=20)
    env.wait_phase(sandbox, "running")
    pid = env.started(sandbox)["wrapper_pid"]

    def ticks() -> int:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        fields = data[data.rindex(")") + 2 :].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    time.sleep(0.1)
    before = ticks()
    time.sleep(1.0)
    assert ticks() - before <= 1
    assert wrapper.cancel(sandbox)
    env.wait_ended(sandbox)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads (3.12+)
def test_launch_from_a_thread(env: Env) -> None:
    sandbox = env.make(["sh", "-c", "echo threaded"])
    assert wrapper.reserve(env.spool, env.jobid(sandbox), 1, 10)
    result: list = []
    t = threading.Thread(target=lambda: result.append(wrapper.launch(env.spool, sandbox)))
    t.start()
    t.join(10)
    assert isinstance(result[0], int)
    state = env.wait_ended(sandbox)
    assert state["exitcode"] == 0
    assert env.read(sandbox, "stdout") == "threaded\n"


def test_launch_survives_ignored_sigchld(env: Env) -> None:
    # a host that ignores SIGCHLD (auto-reaping) must not break launch() or the wrapper
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        sandbox = env.submit(["sh", "-c", "exit 5"])
    finally:
        signal.signal(signal.SIGCHLD, old)
    state = env.wait_ended(sandbox)
    assert (state["exitcode"], state["reason"]) == (5, "exited")


def test_read_state_phases(env: Env, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert wrapper.read_state(str(empty)) == {"sandbox": str(empty), "phase": "missing"}
    sandbox = env.make(["true"])
    assert wrapper.read_state(sandbox) == {"sandbox": sandbox, "phase": "launched"}
    running = env.submit(["sleep", "30"])
    state = env.wait_phase(running, "running")
    assert state["start"] == env.started(running)["start"]
    states = wrapper.read_states([str(empty), sandbox, running])
    assert [s["phase"] for s in states] == ["missing", "launched", "running"]
    assert wrapper.cancel(str(empty)) is False  # no job there
    assert wrapper.cancel(running)
    env.wait_ended(running)


def test_launch_rejects_bad_job_json(env: Env) -> None:
    sandbox = env.make([])
    with pytest.raises(ValueError):
        wrapper.launch(env.spool, sandbox)
    sandbox = env.make(["true"], environment={"A": 1})
    with pytest.raises(ValueError):
        wrapper.launch(env.spool, sandbox)
    with pytest.raises(FileNotFoundError):
        wrapper.launch(env.spool, str(env.root / "nowhere"))


def test_many_quick_jobs(env: Env) -> None:
    sandboxes = [env.submit(["sh", "-c", f"exit {i % 7}"]) for i in range(30)]
    for i, sandbox in enumerate(sandboxes):
        state = env.wait_ended(sandbox)
        assert state["exitcode"] == i % 7
    assert wrapper.usage(env.spool)["used_cores"] == 0


# --------------------------------------------------------------------------
# supervision: lost supervisors, process trees, ps title, cores, memory


def alive(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return int(data[data.rindex(")") + 2 :].split()[19])


def test_killed_supervisor_ends_the_job_as_lost(env: Env) -> None:
    sandbox = env.submit(["sh", "-c", "sleep 100 & sleep 100; wait"], jobid="victim")
    env.wait_phase(sandbox, "running")
    started = env.started(sandbox)
    wait_for(lambda: len(live_in_pgid(started["pgid"])) >= 3, 5)
    assert wrapper.usage(env.spool)["used_cores"] == 1
    os.kill(started["wrapper_pid"], signal.SIGKILL)
    wait_for(lambda: not alive(started["wrapper_pid"]), 5)
    assert wrapper.cancel(sandbox) is True  # a lost job's cancel ends it
    state = wrapper.read_state(sandbox)
    assert state["phase"] == "ended"
    assert (state["reason"], state["exitcode"], state["signal"]) == ("lost", None, None)
    assert f"supervisor (pid {started['wrapper_pid']}) died" in state["error"]
    assert "outcome is unknown" in state["error"]
    assert wrapper.read_state(sandbox) == state  # recorded, the same for every reader
    assert wrapper.cancel(sandbox) is False
    wait_for(lambda: not live_in_pgid(started["pgid"]), 5)  # its processes were killed
    assert wrapper.usage(env.spool)["used_cores"] == 0  # and its core given back
    assert not os.path.exists(os.path.join(env.spool, "active", "victim"))


def test_a_dead_supervisors_slot_is_free_without_reading_its_job(env: Env) -> None:
    sandbox = env.submit(["sleep", "100"], jobid="forgotten")
    env.wait_phase(sandbox, "running")
    started = env.started(sandbox)
    os.kill(started["wrapper_pid"], signal.SIGKILL)
    wait_for(lambda: not alive(started["wrapper_pid"]), 5)
    wrapper._reap()
    assert wrapper.usage(env.spool)["used_cores"] == 0  # nobody read the job's state
    assert wrapper.reserve(env.spool, "next", 1000, 1000)  # and the entry is purged
    assert not os.path.exists(os.path.join(env.spool, "active", "forgotten"))
    wrapper.release(env.spool, "next")
    assert wrapper.read_state(sandbox)["reason"] == "lost"
    wait_for(lambda: not live_in_pgid(started["pgid"]), 5)


def test_a_recycled_pid_or_another_boot_is_not_the_supervisor(env: Env) -> None:
    """Records naming a live unrelated process: it is neither taken as alive nor killed."""
    other = subprocess.Popen(["sleep", "100"], start_new_session=True)
    try:
        real = {"wrapper_pid": other.pid, "wrapper_start": start_ticks(other.pid),
                "boot_id": wrapper._boot_id(), "pgid": other.pid,
                "job_start": start_ticks(other.pid), "start": time.time(), "cgroup": None,
                "spool": env.spool}
        cases = {"recycled": dict(real, wrapper_start=real["wrapper_start"] - 1,
                                  job_start=real["job_start"] - 1),
                 "rebooted": dict(real, boot_id="00000000-another-boot"),
                 "same": real}
        for name, record in cases.items():
            sandbox = env.make(["true"], jobid=name)
            record = dict(record, jobid=name)
            for file in ("launched", "started"):
                with open(os.path.join(sandbox, ".lrms", file), "w") as f:
                    json.dump(record, f)
            env.sandboxes.remove(sandbox)  # nothing of ours runs there
            state = wrapper.read_state(sandbox)
            if name == "same":
                assert state["phase"] == "running"
            else:
                assert (state["phase"], state["reason"]) == ("ended", "lost"), name
            assert other.poll() is None, f"{name}: an unrelated process was killed"
        assert "rebooted" in wrapper.read_state(str(env.root / "sandbox-rebooted"))["error"]
    finally:
        other.kill()
        other.wait()


ESCAPERS = (
    "setsid sleep 1000 & echo $! > setsid.pid; "
    "(setsid sh -c 'sleep 1000 & echo $! > daemon.pid' &); "
    "while [ ! -s daemon.pid ]; do sleep 0.01; done; "
)


@pytest.mark.parametrize("how", ["cancel", "walltime", "exit"])
def test_nothing_the_job_started_survives_it(env: Env, impl: str, how: str) -> None:
    """A setsid child and a double-forked daemon (other sessions) die with the job."""
    tail = "exit 0" if how == "exit" else "touch ready; sleep 1000"
    fields = {"walltime": 2, "grace": 1} if how == "walltime" else {"grace": 1}
    sandbox = env.submit(["sh", "-c", ESCAPERS + tail], **fields)
    if how == "cancel":
        wait_for(lambda: os.path.exists(os.path.join(sandbox, "ready")), 10)
    else:
        env.wait_ended(sandbox)
    pids = [int(env.read(sandbox, name)) for name in ("setsid.pid", "daemon.pid")]
    if how == "cancel":
        session = proc_stat(env.started(sandbox)["pgid"])[3]
        assert all(proc_stat(p)[3] != session for p in pids)  # they left the job's session
        assert wrapper.cancel(sandbox)
    state = env.wait_ended(sandbox)
    assert state["reason"] == {"cancel": "cancelled", "walltime": "walltime",
                               "exit": "exited"}[how]
    assert not [p for p in pids if alive(p)]


def test_ps_shows_the_supervisor_as_lrms_job(env: Env) -> None:
    sandbox = env.submit(["sleep", "100"], jobid="titled-job")
    env.wait_phase(sandbox, "running")
    pid = env.started(sandbox)["wrapper_pid"]
    args = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True,
                          text=True, check=True).stdout.strip()
    comm = subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True,
                          text=True, check=True).stdout.strip()
    # The title fills this process's argv area (pytest's command line); comm: 15 bytes.
    with open("/proc/self/cmdline", "rb") as handle:
        title = "lrms-job titled-job"[:len(handle.read()) - 1]
    assert (args, comm) == (title, "lrms-job titled")
    listing = subprocess.run(["ps", "-ef"], capture_output=True, text=True, check=True).stdout
    assert [line for line in listing.splitlines() if line.endswith(f" {title}")]


def test_the_title_fits_the_argv_area_of_a_caller_with_a_short_command_line(env: Env) -> None:
    """The title takes the caller's argv area (no privilege moves it): a caller started as
    ``p -c ...`` shows the title cut to that length, still ``lrms-job ...``, never its own
    command line."""
    jobid = "a-job-id-much-longer-than-the-argv-area-of-the-process-that-submits-it"
    sandbox = env.make(["sleep", "100"], jobid=jobid)
    launch = ("import wrapper; assert wrapper.reserve(S, J, 1, 1000); "
              "print(wrapper.launch(S, D))")
    caller = ["p", "-c", "import os; exec(os.environ['C'])"]
    done = subprocess.run(
        caller, executable=sys.executable,
        env={**os.environ, "C": f"S, J, D = {env.spool!r}, {jobid!r}, {sandbox!r}; {launch}",
             "PYTHONPATH": os.path.dirname(wrapper.__file__)},
        capture_output=True, text=True, check=True)
    pid = int(done.stdout)
    env.wait_phase(sandbox, "running")
    args = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True,
                          text=True, check=True).stdout.strip()
    area = sum(len(word) + 1 for word in caller)
    assert args == f"lrms-job {jobid}"[:area - 1]
    wrapper.cancel(sandbox)


def test_jobs_are_pinned_to_their_cores(env: Env) -> None:
    assert len(os.sched_getaffinity(0)) >= 2, "this test needs 2 CPUs"
    probe = "nproc; grep Cpus_allowed_list /proc/self/status; touch up; sleep 1000"
    one, two = env.submit(["sh", "-c", probe]), env.submit(["sh", "-c", probe])
    for sandbox in (one, two):
        wait_for(lambda sandbox=sandbox: os.path.exists(os.path.join(sandbox, "up")), 10)
    outputs = [env.read(sandbox, "stdout").split() for sandbox in (one, two)]
    assert [out[0] for out in outputs] == ["1", "1"]
    assert outputs[0][2] != outputs[1][2]  # two 1-core jobs share no CPU
    for sandbox in (one, two):
        wrapper.cancel(sandbox)
    whole = env.run(["nproc"], cores=len(os.sched_getaffinity(0)))
    assert whole["exitcode"] == 0
    assert env.read(env.sandboxes[-1], "stdout").strip() == str(len(os.sched_getaffinity(0)))


ALLOCATE = "import sys; b = b'x' * (int(sys.argv[1]) << 20); print(len(b) >> 20)"


def test_memory_limit_is_enforced_with_a_cgroup(env: Env) -> None:
    """As root here (a writable memory cgroup): over the limit is memory_exceeded."""
    enforced = wrapper.enforcement()["memory"]
    assert enforced is not None and enforced.startswith("cgroup"), enforced
    limit = 100 << 20
    over = env.submit([sys.executable, "-c", ALLOCATE, "300"], memory=limit, jobid="big")
    under = env.submit([sys.executable, "-c", ALLOCATE, "20"], memory=limit, jobid="small")
    env.wait_phase(over, "running")
    cgroup = env.started(over)["cgroup"]
    assert cgroup is not None and cgroup[1].endswith("/lrms-big")
    state = env.wait_ended(over, timeout=30)
    assert (state["reason"], state["signal"], state["exitcode"]) == ("memory", 9, None)
    assert "memory" in state["error"]
    assert state["maxrss_kib"] <= (limit >> 10) * 1.1
    assert not os.path.exists(cgroup[1])  # removed when the job ended
    state = env.wait_ended(under, timeout=30)
    assert (state["reason"], state["exitcode"]) == ("exited", 0)
    assert env.read(under, "stdout") == "20\n"


def test_a_lost_jobs_cgroup_is_emptied_and_removed(env: Env) -> None:
    """With a cgroup, even a setsid child of a lost job is found and killed."""
    script = "setsid sleep 1000 & echo $! > escaped.pid; sleep 1000"
    sandbox = env.submit(["sh", "-c", script], memory=256 << 20, jobid="lost-in-cgroup")
    wait_for(lambda: os.path.exists(os.path.join(sandbox, "escaped.pid"))
             and env.read(sandbox, "escaped.pid").strip(), 10)
    started = env.started(sandbox)
    cgroup = started["cgroup"][1]
    escaped = int(env.read(sandbox, "escaped.pid"))
    assert alive(escaped) and proc_stat(escaped)[2] != started["pgid"]
    os.kill(started["wrapper_pid"], signal.SIGKILL)
    wait_for(lambda: not alive(started["wrapper_pid"]), 5)
    assert wrapper.read_state(sandbox)["reason"] == "lost"
    wait_for(lambda: not alive(escaped), 5)
    assert not os.path.exists(cgroup)
