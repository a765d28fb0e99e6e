"""The lrms conformance suite: the contract of DESIGN §4, checked against a real resource.

Collected by the :mod:`lrms.testing` plugin (``pytest -p lrms.testing --lrms-config
site.yaml --lrms-resource NAME``).  Each test's name and failure messages state the
contract clause it checks.  Only the public API is used, so the suite checks the
backend together with the core facade, as host applications see them.

What the resource must offer: jobs run ``sh`` and ``python3`` (any 3.x) on the
execution host; one core, a little memory and up to 15 minutes of walltime
(less if ``max_walltime`` is shorter) per job.  A backend that refuses a job with
:class:`lrms.ResourceFull` (no free core now) gets it submitted again until the
test's time budget runs out.  Every job the suite submits is cancelled if still
active and freed when its test (or module) ends; what cannot be cleaned up fails
that test's teardown, naming the job.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import lrms
from lrms import (
    Application,
    Dependency,
    Duration,
    Job,
    LRMSError,
    Memory,
    State,
    TerminationReason,
)
from lrms.application import CORE_FIELDS, TEMPLATE_FIELDS
from lrms.hookspecs import OPERATIONS
from lrms.testing import build_resource

pytestmark = pytest.mark.lrms_conformance

#: What the outputs job writes to its stdout: every byte value, 1024 bytes.
PAYLOAD = bytes(range(256)) * 4
#: Files the outputs job writes (name in the sandbox: content); fetched as two outputs.
REMOTE_FILES = {
    "result.txt": "result v1\n",
    "tree/a.txt": "a v1\n",
    "tree/sub/b.txt": "b v1\n",
    "tree/sub/c.txt": "c v1\n",
}
OUTPUTS = ("result.txt", "tree")
_WRITE_OUTPUTS = (
    "import json, os, sys\n"
    "for name, text in json.loads(sys.argv[1]).items():\n"
    "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
    "    with open(name, 'w') as f:\n"
    "        f.write(text)\n"
    "sys.stdout.buffer.write(bytes(range(256)) * 4)\n"
)
#: Arguments no shell may interpret: each must reach the program byte for byte.
HOSTILE_ARGV = (
    "it's", 'say "hi"', "'", '"', "$(id)", "`id`", "$HOME", "${HOME}", "a;b", "; echo pwned",
    "a && b || c", "|", ">out", "<in", "&", "line1\nline2", "\n", "tab\there", "\r", "*",
    "?", "[a-z]*", "~", "~root", "{a,b}", "-n", "--help", "-", "--", "", " spaced  out ",
    "unicode: é ß ✓ 日本語 🚀", "back\\slash\\", "\\n", "\\", "!", "!!", "#comment",
    "%s %%", "X=1", "ctrl\x01\x1b[0m",
)
_WRITE_ARGV = (
    "import json, os, sys\n"
    "with open('argv.json', 'w') as f:\n"
    "    json.dump([os.fsencode(a).hex() for a in sys.argv[1:]], f)\n"
)


# -- helpers -----------------------------------------------------------------------------


def job_app(resource: lrms.LRMS, argv: Sequence[str], **fields: Any) -> Application:
    """An application for the suite: one core, a walltime of at most 15 minutes."""
    walltime = min(resource.max_walltime, Duration("15min"))
    return Application(argv, requested_walltime=walltime, **fields)


def describe(job: Job) -> str:
    states = " -> ".join(state.value for state, _ in job.history)
    return (f"job {job.jobid} (native id {job.native_id}, sandbox {job.sandbox}): states {states}; "
            f"exitcode={job.exitcode} signal={job.signal} returncode={job.returncode} "
            f"reason={job.termination_reason} message={job.status_message!r}")


class Jobs:
    """Submits the suite's jobs and removes every one afterwards (cancel, wait, free).

    Clean-up goes through the session's resource, whichever :class:`~lrms.LRMS`
    object of the same configured resource submitted the job.
    """

    def __init__(self, resource: lrms.LRMS, timeout: float,
                 fresh: Callable[[], lrms.LRMS]) -> None:
        self.resource = resource
        self.timeout = timeout
        self._fresh = fresh
        self._jobs: list[Job] = []
        self._resources: list[lrms.LRMS] = []

    def fresh_resource(self) -> lrms.LRMS:
        """A new LRMS object for the same configured resource (closed at clean-up)."""
        resource = self._fresh()
        self._resources.append(resource)
        return resource

    def submit(self, app: Application, deadline: float,
               resource: lrms.LRMS | None = None) -> Job:
        """Submit ``app``, check what §4 says of submit_job, and set the job SUBMITTED."""
        res = resource or self.resource
        pause = 0.1
        while True:
            job = Job(app)
            self._jobs.append(job)
            try:
                returned = res.submit_job(app, job)
                break
            except lrms.ResourceFull:
                self._jobs.remove(job)
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(2 * pause, 2.0)
        assert returned is job, (
            f"§4 submit_job(app, job) must return the job it was given, got {returned!r}")
        assert job.state is State.NEW, (
            f"§4 submit_job must not change job.state (the caller does), it set {job.state}")
        assert job.native_id, (
            "§4 submit_job must fill in what later calls need: job.native_id is not set")
        job.state = State.SUBMITTED
        return job

    def forget(self, job: Job) -> None:
        """The test freed ``job`` itself: nothing left to clean up."""
        self._jobs.remove(job)

    def wait(self, jobs: Sequence[Job], deadline: float,
             until: Collection[State] = (State.TERMINATED,), what: str = "",
             resource: lrms.LRMS | None = None) -> None:
        """Poll ``update_job_states`` until every job is in ``until``; fail at the deadline."""
        late = self._poll(jobs, deadline, until, resource or self.resource)
        if late:
            wanted = " or ".join(state.value for state in until)
            pytest.fail(f"{what or 'waiting for jobs'}: not {wanted} in time (--lrms-timeout "
                        f"{self.timeout:g} s): " + "; ".join(describe(job) for job in late),
                        pytrace=False)

    @staticmethod
    def _poll(jobs: Sequence[Job], deadline: float, until: Collection[State],
              resource: lrms.LRMS) -> list[Job]:
        pause = 0.05
        while True:
            states = resource.update_job_states(jobs)
            assert len(states) == len(jobs), (
                f"§4 update_job_states answered {len(jobs)} jobs with {len(states)} states")
            ended = [job for job in jobs
                     if job.state is State.TERMINATED and State.TERMINATED not in until]
            if ended:
                pytest.fail("ended too early: " + "; ".join(describe(job) for job in ended),
                            pytrace=False)
            late = [job for job in jobs if job.state not in until]
            if not late or time.monotonic() >= deadline:
                return late
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 1.5, 2.0)

    def cleanup(self) -> None:
        """Cancel, wait for and free every job; close the fresh resources."""
        problems = []
        submitted = [job for job in self._jobs if job.native_id]
        active = [job for job in submitted if job.state is not State.TERMINATED]
        for job in active:
            try:
                self.resource.cancel_job(job)
            except LRMSError as exc:
                problems.append(f"cancel_job failed for {describe(job)}: {exc}")
        try:
            self._poll(active, time.monotonic() + self.timeout, (State.TERMINATED,),
                       self.resource)
        except LRMSError as exc:
            problems.append(f"update_job_states failed while cleaning up: {exc}")
        for job in submitted:
            if job.state is not State.TERMINATED:
                problems.append(f"left behind, not TERMINATED after cancel_job: {describe(job)}")
                continue
            try:
                self.resource.free(job)
            except (LRMSError, OSError) as exc:
                problems.append(f"free failed for {describe(job)}: {exc}")
        self._jobs.clear()
        for resource in self._resources:
            resource.close()
        if problems:
            pytest.fail("lrms conformance clean-up: " + "\n".join(problems), pytrace=False)


@contextlib.contextmanager
def tracking(resource: lrms.LRMS, path: str, name: str, timeout: float) -> Iterator[Jobs]:
    jobs = Jobs(resource, timeout, lambda: build_resource(path, name))
    try:
        yield jobs
    finally:
        jobs.cleanup()


def check_history(job: Job) -> None:
    """A job that runs normally goes NEW, SUBMITTED, [RUNNING], TERMINATED, in that order."""
    order = [State.NEW, State.SUBMITTED, State.RUNNING, State.TERMINATED]
    states = [state for state, _ in job.history]
    ranks = [order.index(state) if state in order else -1 for state in states]
    assert states[:2] == [State.NEW, State.SUBMITTED] and states[-1] is State.TERMINATED \
        and -1 not in ranks and ranks == sorted(ranks), (
            "§3/§4 states: a job that runs normally moves SUBMITTED -> (RUNNING) -> TERMINATED, "
            f"never back, never UNKNOWN or STOPPED; {describe(job)}")
    stamps = [stamp for _, stamp in job.history]
    assert stamps == sorted(stamps), f"§3 state transitions are timestamped in order: {stamps}"


def slice_of(data: bytes, offset: int, size: int | None) -> bytes:
    start = max(0, len(data) + offset) if offset < 0 else offset
    return data[start:] if size is None else data[start:start + size]


def difference(expected: bytes, got: bytes) -> str:
    if expected == got:
        return "identical"
    first = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                 min(len(expected), len(got)))
    return (f"expected {len(expected)} bytes, got {len(got)}; first difference at byte {first}: "
            f"expected {expected[first:first + 16]!r}, got {got[first:first + 16]!r}")


def files_under(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``directory`` (hidden ones too): relative name -> (content, mtime_ns)."""
    found = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = Path(root, name)
            found[path.relative_to(directory).as_posix()] = (path.read_bytes(),
                                                             path.stat().st_mtime_ns)
    return found


def relative(paths: Sequence[str], directory: Path) -> set[str]:
    return {Path(os.path.relpath(os.path.abspath(p), directory)).as_posix() for p in paths}


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def deadline(lrms_timeout: float) -> float:
    """This test's time budget ends at this ``time.monotonic()``."""
    return time.monotonic() + lrms_timeout


@pytest.fixture
def jobs(lrms_resource: lrms.LRMS, lrms_config_path: str, lrms_resource_name: str,
         lrms_timeout: float) -> Iterator[Jobs]:
    with tracking(lrms_resource, lrms_config_path, lrms_resource_name, lrms_timeout) as tracker:
        yield tracker


OUTCOME_ARGV = {
    "exit 0": ["sh", "-c", "exit 0"],
    "exit 3": ["sh", "-c", "exit 3"],
    "exit 255": ["sh", "-c", "exit 255"],
    "kill -9": ["sh", "-c", "kill -9 $$"],
}


@pytest.fixture(scope="module")
def outcomes(lrms_resource: lrms.LRMS, lrms_config_path: str, lrms_resource_name: str,
             lrms_timeout: float) -> Iterator[dict[str, Job]]:
    """Jobs that exit 0, 3 and 255 and one killed by SIGKILL, waited for with batched
    queries."""
    with tracking(lrms_resource, lrms_config_path, lrms_resource_name, lrms_timeout) as tracker:
        deadline = time.monotonic() + lrms_timeout
        submitted = {key: tracker.submit(job_app(lrms_resource, argv), deadline)
                     for key, argv in OUTCOME_ARGV.items()}
        tracker.wait(list(submitted.values()), deadline,
                     what="§4 update_job_states: trivial jobs must reach TERMINATED")
        yield submitted


@pytest.fixture(scope="module")
def outputs_job(lrms_resource: lrms.LRMS, lrms_config_path: str, lrms_resource_name: str,
                lrms_timeout: float) -> Iterator[Job]:
    """A finished job whose stdout is PAYLOAD and whose outputs are REMOTE_FILES."""
    with tracking(lrms_resource, lrms_config_path, lrms_resource_name, lrms_timeout) as tracker:
        deadline = time.monotonic() + lrms_timeout
        app = job_app(lrms_resource, ["python3", "-c", _WRITE_OUTPUTS, json.dumps(REMOTE_FILES)],
                      outputs=list(OUTPUTS))
        job = tracker.submit(app, deadline)
        tracker.wait([job], deadline, what="the outputs job must reach TERMINATED")
        if job.exitcode != 0:
            stderr = io.BytesIO()
            with contextlib.suppress(LRMSError, OSError):
                lrms_resource.peek(job, "stderr", stderr)
            pytest.fail(f"the outputs job (python3 writing files) failed: {describe(job)}; "
                        f"stderr: {stderr.getvalue()[-2000:]!r}", pytrace=False)
        yield job


# -- §2: the backend as a plugin ---------------------------------------------------------


def test_backend_registers_valid_hooks_and_implements_every_operation(
    lrms_resource: lrms.LRMS,
) -> None:
    """§2: building the resource registered the backend with pluggy, which validated its hook
    names and arguments; the backend itself implements every operation hook of §4."""
    backend = lrms_resource.backend
    problems = []
    for operation in OPERATIONS:
        caller = getattr(lrms_resource.hook, operation)
        own = [impl for impl in caller.get_hookimpls()
               if impl.plugin is backend and not (impl.wrapper or impl.hookwrapper)]
        if not own:
            problems.append(f"{operation}: no @lrms.hookimpl method on "
                            f"{type(backend).__name__}")
        for impl in own:
            unknown = set(impl.argnames) - set(caller.spec.argnames)
            if unknown:
                problems.append(f"{operation}: arguments {sorted(unknown)} are not in the "
                                f"hookspec {caller.spec.argnames}")
    assert not problems, "§2 the backend must implement every operation hook: " + "; ".join(
        problems)


# -- submit, states, outcome -------------------------------------------------------------


def test_successful_job_progresses_to_terminated_with_exit_code_0(
    outcomes: dict[str, Job],
) -> None:
    job = outcomes["exit 0"]
    check_history(job)
    assert (job.exitcode, job.signal, job.returncode) == (0, None, 0), (
        f"§3/§4 a program that exits 0 is recorded as exitcode 0, signal None: {describe(job)}")
    assert job.termination_reason is TerminationReason.EXITED, (
        f"§3 a program that ended by itself has termination_reason EXITED: {describe(job)}")


def test_exit_code_3_is_recorded(outcomes: dict[str, Job]) -> None:
    job = outcomes["exit 3"]
    check_history(job)
    assert (job.exitcode, job.signal, job.returncode) == (3, None, 3), (
        f"§3 returncode splits into exitcode and signal: 'exit 3' gives exitcode 3, "
        f"returncode 3: {describe(job)}")
    assert job.termination_reason is TerminationReason.EXITED, (
        f"§3 a non-zero exit is still termination_reason EXITED: {describe(job)}")


def test_exit_code_255_is_an_exit_code_not_a_signal(outcomes: dict[str, Job]) -> None:
    """The one exit-status rule (:func:`lrms.exitstatus.split_status`): only 129..192 are
    128 + a signal number; 255 is the program's exit code on every backend."""
    job = outcomes["exit 255"]
    check_history(job)
    assert (job.exitcode, job.signal, job.returncode) == (255, None, 255), (
        f"§3 'exit 255' gives exitcode 255, no signal: {describe(job)}")
    assert job.termination_reason is TerminationReason.EXITED, (
        f"§3 a program that exits 255 ended by itself: EXITED: {describe(job)}")


def test_job_killed_by_signal_9_is_reported_as_signalled(outcomes: dict[str, Job]) -> None:
    """Signal 9 and no exit code, whether the backend saw the signal or only the shell's
    128 + 9 (read with :func:`lrms.exitstatus.split_status`); returncode 137, SIGNALLED."""
    job = outcomes["kill -9"]
    check_history(job)
    assert (job.exitcode, job.signal) == (None, 9), (
        f"§3 a program killed by SIGKILL is recorded as signal 9, no exit code: {describe(job)}")
    assert job.returncode == 137, f"§3 returncode is 128 + 9 = 137: {describe(job)}"
    assert job.termination_reason is TerminationReason.SIGNALLED, (
        f"§3 a program killed by a signal nobody in lrms sent is SIGNALLED: {describe(job)}")


# -- cancel ------------------------------------------------------------------------------


def test_cancel_of_a_running_job_ends_it_as_cancelled(
    lrms_resource: lrms.LRMS, jobs: Jobs, deadline: float
) -> None:
    job = jobs.submit(job_app(lrms_resource, ["sleep", "600"]), deadline)
    jobs.wait([job], deadline, until=(State.RUNNING,),
              what="the job to cancel ('sleep 600') must be seen RUNNING")
    lrms_resource.cancel_job(job)
    with pytest.raises(lrms.InvalidJobState):
        lrms_resource.free(job)
    jobs.wait([job], deadline,
              what="§4 cancel_job: a cancelled running job must reach TERMINATED")
    assert job.termination_reason is TerminationReason.CANCELLED, (
        f"§3 a job ended by cancel_job has termination_reason CANCELLED: {describe(job)}")


# -- peek --------------------------------------------------------------------------------

PEEK_CASES = [
    pytest.param(0, None, id="whole-file"),
    pytest.param(300, None, id="from-offset-300"),
    pytest.param(-100, None, id="last-100-bytes"),
    pytest.param(0, 10, id="first-10-bytes"),
    pytest.param(500, 37, id="37-bytes-from-offset-500"),
    pytest.param(-200, 50, id="50-bytes-from-offset-minus-200"),
]


@pytest.mark.parametrize("destination", ["path", "stream"])
@pytest.mark.parametrize(("offset", "size"), PEEK_CASES)
def test_peek_copies_the_requested_bytes(
    lrms_resource: lrms.LRMS, outputs_job: Job, tmp_path: Path, offset: int,
    size: int | None, destination: str,
) -> None:
    """§4 peek: ``size`` bytes (to the end if None) from ``offset`` (negative: from the
    end) into a path (created or overwritten) or a stream (left after the written bytes)."""
    expected = slice_of(PAYLOAD, offset, size)
    call = f"peek(job, 'stdout', <{destination}>, offset={offset}, size={size})"
    if destination == "path":
        target = tmp_path / "peeked"
        target.write_bytes(b"stale content, longer than any peek " * 100)
        count = lrms_resource.peek(outputs_job, "stdout", target, offset=offset, size=size)
        got = target.read_bytes()
        assert got == expected, (
            f"§4 {call} must overwrite the file with exactly the requested bytes: "
            f"{difference(expected, got)}")
    else:
        prefix = b"already here|"
        stream = io.BytesIO()
        stream.write(prefix)
        count = lrms_resource.peek(outputs_job, "stdout", stream, offset=offset, size=size)
        assert stream.getvalue()[:len(prefix)] == prefix, (
            f"§4 {call} must write at the stream's position, not overwrite what is before it")
        got = stream.getvalue()[len(prefix):]
        assert got == expected, (
            f"§4 {call} must write exactly the requested bytes into the stream: "
            f"{difference(expected, got)}")
        assert stream.tell() == len(prefix) + len(expected), (
            f"§4 {call} must leave the stream just after the written bytes: position "
            f"{stream.tell()}, expected {len(prefix) + len(expected)}")
    assert count == len(expected), (
        f"hookspecs.peek returns the number of bytes written: {call} returned {count}, "
        f"wrote {len(expected)}")


def test_peek_reads_a_file_in_a_subdirectory_of_the_sandbox(
    lrms_resource: lrms.LRMS, outputs_job: Job
) -> None:
    stream = io.BytesIO()
    lrms_resource.peek(outputs_job, "tree/sub/b.txt", stream)
    expected = REMOTE_FILES["tree/sub/b.txt"].encode()
    assert stream.getvalue() == expected, (
        "§4 peek takes a path relative to the sandbox: "
        f"{difference(expected, stream.getvalue())}")


def test_peek_at_a_missing_file_raises(lrms_resource: lrms.LRMS, outputs_job: Job) -> None:
    """§4 peek: errors propagate to the caller (accepted: an LRMSError or an OSError)."""
    with pytest.raises((LRMSError, OSError)):
        lrms_resource.peek(outputs_job, "no-such-file", io.BytesIO())


# -- get_results -------------------------------------------------------------------------

#: Local files placed before get_results: name -> (content, mtime offset from now).
DAY = 86400
LOCAL_FILES = {
    "result.txt": ("RESULT V1\n", +DAY),            # same size, local newer: unchanged
    "tree/a.txt": ("a, changed here\n", +DAY),      # size differs: changed
    "tree/sub/b.txt": ("B V1\n", -30 * 365 * DAY),  # same size, remote newer: changed
}                                                   # tree/sub/c.txt: missing locally

GET_RESULTS_CASES = [
    pytest.param(False, True, {"tree/sub/c.txt"}, id="overwrite=False,changed_only=True"),
    pytest.param(False, False, {"tree/sub/c.txt"}, id="overwrite=False,changed_only=False"),
    pytest.param(True, True, {"tree/a.txt", "tree/sub/b.txt", "tree/sub/c.txt"},
                 id="overwrite=True,changed_only=True"),
    pytest.param(True, False, set(REMOTE_FILES), id="overwrite=True,changed_only=False"),
]
_RULES = {
    (False, True): "overwrite=False never touches existing files (in subfolders too)",
    (False, False): "overwrite=False never touches existing files, whatever changed_only says",
    (True, True): "overwrite=True, changed_only=True copies only files whose source differs "
                  "in size or is newer",
    (True, False): "overwrite=True, changed_only=False copies every file",
}


def check_fetched(directory: Path, before: dict[str, tuple[bytes, int]], copied: set[str],
                  written: Sequence[str], rule: str) -> None:
    after = files_under(directory)
    assert set(after) == set(REMOTE_FILES), (
        f"§4 get_results ({rule}) must leave exactly the outputs in the directory, nothing "
        f"half-written or temporary: found {sorted(after)}")
    for name, text in REMOTE_FILES.items():
        content = after[name][0]
        if name in copied:
            assert content == text.encode(), (
                f"§4 get_results ({rule}): {name} must be copied: "
                f"{difference(text.encode(), content)}")
        else:
            assert after[name] == before[name], (
                f"§4 get_results ({rule}): {name} must be left untouched (content and "
                f"mtime), got {content!r}")
    assert relative(written, directory) == copied, (
        f"hookspecs.get_results returns the local paths written ({rule}): expected "
        f"{sorted(copied)}, returned {sorted(written)}")


def test_get_results_copies_files_and_nested_directories_into_an_empty_directory(
    lrms_resource: lrms.LRMS, outputs_job: Job, tmp_path: Path
) -> None:
    """§4 get_results: files missing locally are always copied (here all of them)."""
    written = lrms_resource.get_results(outputs_job, tmp_path)
    check_fetched(tmp_path, {}, set(REMOTE_FILES), written,
                  "default arguments, empty directory")
    before = files_under(tmp_path)
    again = lrms_resource.get_results(outputs_job, tmp_path)
    check_fetched(tmp_path, before, set(), again, "default arguments, a second time")


@pytest.mark.parametrize(("overwrite", "changed_only", "copied"), GET_RESULTS_CASES)
def test_get_results_overwrite_and_changed_only(
    lrms_resource: lrms.LRMS, outputs_job: Job, tmp_path: Path, overwrite: bool,
    changed_only: bool, copied: set[str],
) -> None:
    now = time.time()
    for name, (text, age) in LOCAL_FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (now + age, now + age))
    before = files_under(tmp_path)
    written = lrms_resource.get_results(outputs_job, tmp_path, overwrite=overwrite,
                                        changed_only=changed_only)
    check_fetched(tmp_path, before, copied, written,
                  _RULES[(overwrite, changed_only)] + "; files missing locally are always copied")


# -- free --------------------------------------------------------------------------------


def test_free_is_refused_before_terminated_and_removes_the_sandbox_after(
    lrms_resource: lrms.LRMS, jobs: Jobs, deadline: float
) -> None:
    job = jobs.submit(job_app(lrms_resource, ["sh", "-c", "echo kept"]), deadline)
    with pytest.raises(lrms.InvalidJobState):
        lrms_resource.free(job)
    jobs.wait([job], deadline, what="a trivial job must reach TERMINATED")
    stream = io.BytesIO()
    lrms_resource.peek(job, "stdout", stream)
    assert stream.getvalue() == b"kept\n", (
        "§4 free: a refused free (job not TERMINATED) must leave the sandbox intact; stdout "
        f"is {stream.getvalue()!r}")
    lrms_resource.free(job)
    jobs.forget(job)
    with pytest.raises((LRMSError, OSError)):
        lrms_resource.peek(job, "stdout", io.BytesIO())
        pytest.fail("§4 free deletes the job's sandbox and files: peek still reads stdout")


# -- status, data, close, limits ---------------------------------------------------------


def test_resource_status_has_consistent_counts(lrms_resource: lrms.LRMS) -> None:
    status = lrms_resource.get_resource_status()
    assert isinstance(status, lrms.ResourceStatus), (
        f"§4 get_resource_status returns a lrms.ResourceStatus, got {status!r}")
    counts = {name: getattr(status, name)
              for name in ("free_slots", "total_slots", "user_run", "user_queued", "queued")}
    if status.running is not None:
        counts["running"] = status.running
    bad = {name: value for name, value in counts.items()
           if isinstance(value, bool) or not isinstance(value, int) or value < 0}
    assert not bad, f"§3 the status counts are non-negative ints: {bad}"
    assert status.total_slots >= status.free_slots, (
        f"§3 free_slots ({status.free_slots}) cannot exceed total_slots ({status.total_slots})")


def test_validate_data_accepts_file_urls_and_refuses_unknown_schemes(
    lrms_resource: lrms.LRMS,
) -> None:
    res = lrms_resource
    assert res.validate_data(["file:///etc/hosts"]) is True, (
        "§4 validate_data: file:// URLs are supported by every backend")
    assert res.validate_data(["unknownscheme://example.org/data.csv"]) is False, (
        "§4 validate_data is False for a URL whose transfer protocol is not supported")
    assert res.validate_data(["file:///etc/hosts", "unknownscheme://example.org/x"]) is False, (
        "§4 validate_data is True only if every URL uses a supported protocol")


def test_close_is_idempotent_and_later_operations_raise(
    lrms_resource: lrms.LRMS, jobs: Jobs, deadline: float, tmp_path: Path
) -> None:
    fresh = jobs.fresh_resource()
    app = job_app(fresh, ["sh", "-c", "exit 0"], outputs=["stdout"])
    job = jobs.submit(app, deadline, resource=fresh)
    jobs.wait([job], deadline, resource=fresh, what="a trivial job must reach TERMINATED")
    fresh.close()
    fresh.close()
    operations: dict[str, Callable[[], object]] = {
        "submit_job": lambda: jobs.submit(app, deadline, resource=fresh),
        "update_job_states": lambda: fresh.update_job_states([job]),
        "cancel_job": lambda: fresh.cancel_job(job),
        "get_results": lambda: fresh.get_results(job, tmp_path),
        "peek": lambda: fresh.peek(job, "stdout", io.BytesIO()),
        "free": lambda: fresh.free(job),
        "get_resource_status": fresh.get_resource_status,
        "validate_data": lambda: fresh.validate_data(["file:///etc/hosts"]),
    }
    accepted = []
    for name, operation in operations.items():
        try:
            operation()
        except LRMSError:
            continue
        accepted.append(name)
    assert not accepted, (
        f"§4 close: operations after close must raise LRMSError: {accepted} did not")


LIMITS = ["max_cores_per_job", "max_memory_per_core", "max_walltime"]


@pytest.mark.parametrize("limit", LIMITS)
def test_request_over_a_limit_is_refused_before_submission(
    lrms_resource: lrms.LRMS, jobs: Jobs, deadline: float, limit: str
) -> None:
    res = lrms_resource
    cores = res.max_cores_per_job
    requests: dict[str, dict[str, Any]] = {
        "max_cores_per_job": {"requested_cores": cores + 1},
        "max_memory_per_core": {"requested_cores": cores,
                                "requested_memory": res.max_memory_per_core * cores
                                + Memory("1MiB")},
        "max_walltime": {"requested_walltime": res.max_walltime + Duration(60)},
    }
    app = Application(["true"], jobname="over-the-limit", **requests[limit])
    job = Job(app)
    with pytest.raises(lrms.LimitExceeded) as refused:
        res.submit_job(app, job)
    assert job.native_id is None and job.sandbox is None and job.state is State.NEW, (
        f"§4 a request over {limit} is refused before anything is sent: no job was to be "
        f"created, got {describe(job)}")
    assert res.name in str(refused.value) and "over-the-limit" in str(refused.value), (
        f"§7 the error names the resource and the job: {refused.value}")


#: A value for each template field a backend may map (``email_events`` needs an email).
TEMPLATE_SAMPLES: dict[str, dict[str, Any]] = {
    "requested_gpus": {"requested_gpus": 1}, "account": {"account": "lrms-conformance"},
    "qos": {"qos": "lrms-conformance"}, "reservation": {"reservation": "lrms-conformance"},
    "email": {"email": "lrms@example.org"},
    "email_events": {"email": "lrms@example.org", "email_events": ("end",)},
    "hold": {"hold": True}, "earliest_start": {"earliest_start": time.time() + 86400},
    "after": {"after": (Dependency("lrms-conformance", "any", "1"),)},
    "nodes": {"nodes": 2}, "tasks_per_node": {"tasks_per_node": 2},
    "exclusive": {"exclusive": True}, "constraint": {"constraint": "lrms-conformance"},
}


def test_a_template_field_the_backend_does_not_map_is_refused_before_anything_is_sent(
    lrms_resource: lrms.LRMS,
) -> None:
    res = lrms_resource
    assert set(TEMPLATE_SAMPLES) == set(TEMPLATE_FIELDS) - CORE_FIELDS
    cases = {field: values for field, values in TEMPLATE_SAMPLES.items()
             if field not in res.template_fields}
    if "after" in res.template_fields:
        cases["after without a native id"] = {"after": (Dependency("lrms-conformance"),)}
    wrong = []
    for field, values in cases.items():
        app = job_app(res, ["true"], jobname="template-check", **values)
        job = Job(app)
        try:
            res.submit_job(app, job)
        except lrms.LimitExceeded as exc:
            text = str(exc)
            if not (all(part in text for part in (res.name, res.backend_name, "template-check"))
                    and any(f"{name}=" in text for name in values)):
                wrong.append(f"{field}: the error must name resource, backend, field and job: "
                             f"{exc}")
        else:
            wrong.append(f"{field}: accepted ({describe(job)})")
            with contextlib.suppress(LRMSError):
                res.cancel_job(job)
            continue
        if job.native_id is not None or job.sandbox is not None:
            wrong.append(f"{field}: something was created: {describe(job)}")
    assert not wrong, (
        "§8 a template field the backend does not list in template_fields "
        f"({sorted(res.template_fields)}) is refused before anything is sent: "
        + "; ".join(wrong))


# -- the job environment --------------------------------------------------------------------

_PRINT_ENVIRONMENT = (
    "import json, os\n"
    "names = ['LRMS_JOB_ID', 'LRMS_CORES', 'LRMS_GPUS', 'LRMS_SANDBOX', 'OMP_NUM_THREADS']\n"
    "json.dump({n: os.environ.get(n) for n in names}, open('environment.json', 'w'))\n"
)


def test_the_job_sees_its_lrms_environment(
    lrms_resource: lrms.LRMS, jobs: Jobs, deadline: float, tmp_path: Path
) -> None:
    app = job_app(lrms_resource, ["python3", "-c", _PRINT_ENVIRONMENT],
                  outputs=["environment.json"])
    job = jobs.submit(app, deadline)
    jobs.wait([job], deadline, what="the environment job must reach TERMINATED")
    assert job.exitcode == 0, f"the environment job must succeed: {describe(job)}"
    lrms_resource.get_results(job, tmp_path)
    seen = json.loads((tmp_path / "environment.json").read_text())
    expected = {"LRMS_JOB_ID": job.jobid, "LRMS_CORES": "1", "LRMS_GPUS": "0",
                "LRMS_SANDBOX": job.sandbox, "OMP_NUM_THREADS": "1"}
    assert seen == expected, (
        f"§8 every job sees LRMS_JOB_ID, LRMS_CORES, LRMS_GPUS, LRMS_SANDBOX and "
        f"OMP_NUM_THREADS (the requested cores): expected {expected}, the job saw {seen}")


# -- argv --------------------------------------------------------------------------------


def test_hostile_arguments_reach_the_program_byte_for_byte(
    lrms_resource: lrms.LRMS, jobs: Jobs, deadline: float, tmp_path: Path
) -> None:
    app = job_app(lrms_resource, ["python3", "-c", _WRITE_ARGV, *HOSTILE_ARGV],
                  outputs=["argv.json"])
    job = jobs.submit(app, deadline)
    jobs.wait([job], deadline, what="the argv job must reach TERMINATED")
    assert job.exitcode == 0, f"the argv job (python3 -c ...) must succeed: {describe(job)}"
    lrms_resource.get_results(job, tmp_path)
    received = [bytes.fromhex(item) for item in
                json.loads((tmp_path / "argv.json").read_text())]
    sent = [arg.encode() for arg in HOSTILE_ARGV]
    wrong = [f"argument {i}: sent {s!r}, received {r!r}"
             for i, (s, r) in enumerate(zip(sent, received, strict=False)) if s != r]
    assert not wrong and len(received) == len(sent), (
        f"§3 the argv reaches the program byte for byte ({len(sent)} arguments sent, "
        f"{len(received)} received): " + "; ".join(wrong))


# -- events ------------------------------------------------------------------------------


class EventRecorder:
    """An extension plugin recording the event hooks it receives."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, dict[str, Any]]] = []

    @lrms.hookimpl
    def job_submitted(self, resource: lrms.LRMS, job: Job) -> None:
        self.events.append(("job_submitted", resource, {"job": job, "native_id": job.native_id}))

    @lrms.hookimpl
    def job_state_changed(self, resource: lrms.LRMS, job: Job, old: State, new: State) -> None:
        self.events.append(("job_state_changed", resource,
                            {"job": job, "old": old, "new": new, "state": job.state}))

    @lrms.hookimpl
    def job_terminated(self, resource: lrms.LRMS, job: Job) -> None:
        self.events.append(("job_terminated", resource,
                            {"job": job, "state": job.state, "exitcode": job.exitcode}))

    @lrms.hookimpl
    def resource_status_updated(self, resource: lrms.LRMS, status: lrms.ResourceStatus) -> None:
        self.events.append(("resource_status_updated", resource, {"status": status}))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, _, data in self.events if event == name]


def test_event_hooks_fire_for_a_registered_extension_plugin(
    jobs: Jobs, deadline: float
) -> None:
    recorder = EventRecorder()
    lrms.register(recorder)
    try:
        res = jobs.fresh_resource()
    finally:
        lrms.unregister(recorder)
    job = jobs.submit(job_app(res, ["sh", "-c", "exit 0"]), deadline, resource=res)
    jobs.wait([job], deadline, resource=res, what="a trivial job must reach TERMINATED")
    status = res.get_resource_status()
    log = "; ".join(f"{event}({data})" for event, _, data in recorder.events)

    assert all(resource is res for _, resource, _ in recorder.events), (
        f"§2 event hooks receive the resource that fired them: {log}")
    assert recorder.named("job_submitted") == [{"job": job, "native_id": job.native_id}], (
        f"§2 job_submitted fires once per accepted job, its native id set: {log}")
    changes = recorder.named("job_state_changed")
    chain = [(c["old"], c["new"]) for c in changes]
    assert changes and all(c["job"] is job and c["state"] is c["new"] for c in changes) and \
        chain[0][0] is State.SUBMITTED and chain[-1][1] is State.TERMINATED and \
        all(a[1] is b[0] for a, b in itertools.pairwise(chain)), (
            "§2 job_state_changed fires for each move SUBMITTED -> ... -> TERMINATED, with "
            f"job.state already the new state: {log}")
    assert recorder.named("job_terminated") == [
        {"job": job, "state": State.TERMINATED, "exitcode": 0}], (
        f"§2 job_terminated fires once, with the exit code recorded: {log}")
    assert [e["status"] for e in recorder.named("resource_status_updated")] == [status], (
        f"§2 resource_status_updated fires with the status get_resource_status read: {log}")
