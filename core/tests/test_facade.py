"""The LRMS facade over a real shellcmd resource: limits, checks, events, plugins, close."""

from __future__ import annotations

import io
import itertools
import time

import pytest

import lrms
from lrms import (
    Application,
    BackendError,
    InvalidJobState,
    Job,
    LimitExceeded,
    LRMSError,
    ResourceFull,
    State,
)


def make_resource(tmp_path, name="t"):
    return lrms.LRMS(name, ["x86_64"], 2, 2, "1GiB", "1h", backend="shellcmd",
                     spool=str(tmp_path / f"spool-{name}"))


@pytest.fixture
def res(tmp_path):
    resource = make_resource(tmp_path)
    try:
        yield resource
    finally:
        resource.close()


def sandboxes(tmp_path, name="t"):
    jobs = tmp_path / f"spool-{name}" / "jobs"
    return sorted(p.name for p in jobs.iterdir()) if jobs.exists() else []


def wait(resource, job, timeout=20.0):
    deadline = time.monotonic() + timeout
    while resource.update_job_state(job) != State.TERMINATED:
        assert time.monotonic() < deadline, f"{job} did not terminate within {timeout} s"
        time.sleep(0.01)
    return job


def submit(resource, argv, **kwargs):
    app = Application(argv, **kwargs)
    job = resource.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    return job


def stdout_of(resource, job):
    buffer = io.BytesIO()
    resource.peek(job, job.app.stdout, buffer)
    return buffer.getvalue().decode()


class Recorder:
    """An extension plugin that records every event and every submit_job call."""

    def __init__(self, lines=()):
        self.events = []
        self.lines = list(lines)

    @lrms.hookimpl
    def job_submitted(self, resource, job):
        self.events.append(("submitted", resource.name, job.jobid, job.native_id))

    @lrms.hookimpl
    def job_state_changed(self, resource, job, old, new):
        assert job.state == new
        self.events.append(("changed", job.jobid, old, new))

    @lrms.hookimpl
    def job_terminated(self, resource, job):
        self.events.append(("terminated", job.jobid, job.returncode))

    @lrms.hookimpl
    def resource_status_updated(self, resource, status):
        self.events.append(("status", resource.name, status))

    @lrms.hookimpl
    def job_script_lines(self, resource, app, job):
        return self.lines

    @lrms.hookimpl(wrapper=True)
    def submit_job(self, resource, app, job):
        self.events.append(("before submit", job.jobid, job.native_id))
        result = yield
        self.events.append(("after submit", job.jobid, result.native_id))
        return result


# -- limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "needles"),
    [
        ({"requested_cores": 3}, ["3 cores requested", "max_cores_per_job is 2"]),
        ({"requested_memory": "1.5GiB"},
         ["1536MiB memory requested", "limit for 1 core(s) is 1GiB", "max_memory_per_core 1GiB"]),
        ({"requested_cores": 2, "requested_memory": "3GiB"},
         ["3GiB memory requested", "limit for 2 core(s) is 2GiB"]),
        ({"requested_walltime": "2h"}, ["walltime 2h requested", "max_walltime is 1h"]),
        ({"requested_walltime": 3601}, ["max_walltime is 1h"]),
        ({"requested_architecture": "aarch64"},
         ["architecture aarch64 requested", "offers x86_64"]),
        ({"requested_cores": 3, "requested_walltime": "2 days"},
         ["3 cores requested", "walltime 2d requested"]),
    ],
)
def test_limits_refused_before_anything_is_created(tmp_path, registered, request_, needles):
    recorder = registered(Recorder())
    res = make_resource(tmp_path, "limited")  # made after registering, so it has the plugin
    app = Application(["true"], jobname="big", **request_)
    job = Job(app)
    try:
        with pytest.raises(LimitExceeded) as info:
            res.submit_job(app, job)
    finally:
        res.close()
    message = str(info.value)
    assert "resource limited" in message
    assert "'big'" in message
    for needle in needles:
        assert needle in message, message
    assert isinstance(info.value, LRMSError)
    assert recorder.events == []  # the backend was never called
    assert (job.state, job.resource, job.native_id, job.sandbox) == (State.NEW, None, None, None)
    assert sandboxes(tmp_path, "limited") == []


def test_requests_at_the_limits_are_accepted(res):
    app = Application(["true"], requested_cores=2, requested_memory="2GiB",
                      requested_walltime="1h", requested_architecture="amd64")
    res.check_request(app)  # no exception
    job = wait(res, submit(res, ["true"], requested_cores=2, requested_memory="2GiB",
                           requested_walltime="1h", requested_architecture="x86_64"))
    assert job.returncode == 0


def test_resource_description_is_immutable(res):
    with pytest.raises(AttributeError):
        res.max_cores = 5
    with pytest.raises(AttributeError):
        res.name = "other"
    assert res.max_cores == 2
    assert res.architecture == frozenset({lrms.Arch.X86_64})


# -- inputs ------------------------------------------------------------------------------


def test_missing_input_file_refused(res, tmp_path):
    missing = tmp_path / "absent.csv"
    app = Application(["cat", "absent.csv"], inputs=[str(missing)])
    job = Job(app)
    with pytest.raises(LRMSError) as info:
        res.submit_job(app, job)
    assert str(missing) in str(info.value)
    assert "resource t" in str(info.value)
    assert job.state == State.NEW and job.native_id is None
    assert sandboxes(tmp_path) == []


def test_unsupported_url_refused(res, tmp_path):
    app = Application(["cat", "f"], inputs={"gsiftp://host/data/f": "f"})
    job = Job(app)
    with pytest.raises(LRMSError) as info:
        res.submit_job(app, job)
    assert "gsiftp://host/data/f" in str(info.value)
    assert "resource t" in str(info.value)
    assert job.native_id is None
    assert sandboxes(tmp_path) == []


def test_validate_data(res):
    assert res.validate_data(["file:///etc/hosts"]) is True
    assert res.validate_data(["FILE:///etc/hosts"]) is True
    assert res.validate_data([]) is True
    assert res.validate_data(["gsiftp://h/x"]) is False
    assert res.validate_data(["file:///a", "https://example.org/b"]) is False


def test_inputs_staged_and_file_url_accepted(res, tmp_path):
    (tmp_path / "a.txt").write_text("from a\n")
    (tmp_path / "b.txt").write_text("from b\n")
    job = wait(res, submit(
        res, ["sh", "-c", "cat a.txt sub/b.txt"],
        inputs={str(tmp_path / "a.txt"): "a.txt", f"file://{tmp_path / 'b.txt'}": "sub/b.txt"}))
    assert job.returncode == 0
    assert stdout_of(res, job) == "from a\nfrom b\n"


# -- job states -----------------------------------------------------------------------------


def test_free_refuses_a_job_that_is_not_terminated(res, tmp_path):
    app = Application(["true"])
    with pytest.raises(InvalidJobState, match="NEW"):
        res.free(Job(app))
    job = submit(res, ["sleep", "30"])
    try:
        with pytest.raises(InvalidJobState) as info:
            res.free(job)
        assert job.jobid in str(info.value)
        assert "TERMINATED" in str(info.value)
        assert sandboxes(tmp_path) == [job.jobid]  # nothing was deleted
    finally:
        res.cancel_job(job)
        wait(res, job)
    assert job.termination_reason == lrms.TerminationReason.CANCELLED
    res.free(job)
    assert sandboxes(tmp_path) == []


def test_cancel_of_a_job_never_submitted_is_refused(res):
    with pytest.raises(InvalidJobState, match="never submitted"):
        res.cancel_job(Job(Application(["true"])))


def test_cancel_of_a_terminated_job_does_nothing(res):
    job = wait(res, submit(res, ["true"]))
    res.cancel_job(job)
    assert job.state == State.TERMINATED
    assert job.termination_reason == lrms.TerminationReason.EXITED


def test_only_new_jobs_are_submitted(res):
    job = wait(res, submit(res, ["true"]))
    with pytest.raises(InvalidJobState, match="TERMINATED"):
        res.submit_job(job.app, job)


@pytest.mark.parametrize("seen_running", [False, True])
def test_cancelled_job_stays_terminating_until_terminated(res, seen_running):
    # After cancel_job the job is TERMINATING; the backend may still see the
    # process for a moment, but the job must not go back to SUBMITTED/RUNNING
    # (and fire job_state_changed(TERMINATING -> RUNNING)) on the way to TERMINATED.
    job = submit(res, ["sleep", "30"])
    if seen_running:
        deadline = time.monotonic() + 20
        while res.update_job_state(job) != State.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    res.cancel_job(job)
    assert job.state == State.TERMINATING
    wait(res, job)
    states = [state for state, _ in job.history]
    assert states[states.index(State.TERMINATING):] == [State.TERMINATING, State.TERMINATED]

def test_update_job_states_in_order(res):
    new = Job(Application(["true"]))
    jobs = [submit(res, ["sh", "-c", f"exit {code}"]) for code in (1, 2)]
    for job in jobs:
        wait(res, job)
    assert res.update_job_states([jobs[1], new, jobs[0]]) == [
        State.TERMINATED, State.NEW, State.TERMINATED]
    assert [job.returncode for job in jobs] == [1, 2]


# -- extension plugins -----------------------------------------------------------------


def test_events_reach_a_registered_plugin(tmp_path, registered):
    recorder = registered(Recorder())
    with make_resource(tmp_path) as res:
        job = wait(res, submit(res, ["sh", "-c", "exit 3"]))
        status = res.get_resource_status()
    kinds = [event[0] for event in recorder.events]
    assert kinds[:3] == ["before submit", "after submit", "submitted"]
    assert recorder.events[2] == ("submitted", "t", job.jobid, job.native_id)
    assert job.native_id is not None
    changes = [event for event in recorder.events if event[0] == "changed"]
    assert changes, recorder.events
    assert changes[0][2] == State.SUBMITTED  # the first move starts where the caller left it
    assert changes[-1][3] == State.TERMINATED
    for (_, _, _, new), (_, _, old, _) in itertools.pairwise(changes):
        assert new == old  # each move starts where the last one ended
    assert recorder.events.count(("terminated", job.jobid, 3)) == 1
    assert kinds.index("terminated") > kinds.index("changed")
    assert recorder.events[-1] == ("status", "t", status)
    assert status.total_slots == 2


def test_resources_made_before_registering_lack_the_plugin(res, registered):
    recorder = registered(Recorder())
    wait(res, submit(res, ["true"]))
    assert recorder.events == []


def test_job_script_lines_run_before_the_program(tmp_path, registered):
    registered(Recorder(["export FROM_PLUGIN=yes", "echo first"]))
    registered(Recorder(["echo second"]))
    argv = ["sh", "-c", 'printf "%s|" "$FROM_PLUGIN" "$@"', "name", "a b", "$(id)", "*"]
    with make_resource(tmp_path) as res:
        job = wait(res, submit(res, argv))
        assert stdout_of(res, job) == "first\nsecond\nyes|a b|$(id)|*|"
    assert job.returncode == 0


def test_job_script_lines_see_app_and_job(tmp_path, registered):
    class Lines:
        @lrms.hookimpl
        def job_script_lines(self, app, job):
            return [f"export JOBID={job.jobid} CORES={app.requested_cores}"]

    registered(Lines())
    with make_resource(tmp_path) as res:
        job = wait(res, submit(res, ["sh", "-c", 'echo "$JOBID $CORES"'], requested_cores=2))
        assert stdout_of(res, job) == f"{job.jobid} 2\n"


def test_extension_implementing_an_operation_is_refused(tmp_path):
    class Outright:
        calls = 0

        @lrms.hookimpl
        def submit_job(self, app, job):
            Outright.calls += 1
            return job

    plugin = Outright()
    try:
        with pytest.raises(BackendError) as info:
            lrms.register(plugin)
        assert "submit_job" in str(info.value)
        assert "wrapper=True" in str(info.value)
        with make_resource(tmp_path) as res:
            job = wait(res, submit(res, ["true"]))
        assert Outright.calls == 0
        assert job.native_id is not None and job.returncode == 0
    finally:
        lrms.unregister(plugin)


def test_wrapper_sees_call_and_result(tmp_path, registered):
    class Audit:
        def __init__(self):
            self.seen = []

        @lrms.hookimpl(wrapper=True)
        def submit_job(self, resource, app, job):
            self.seen.append(("call", resource.name, list(app.arguments), job.native_id))
            result = yield
            self.seen.append(("result", result is job, result.native_id, result.sandbox))
            return result

    audit = registered(Audit())
    with make_resource(tmp_path) as res:
        job = wait(res, submit(res, ["echo", "audited"]))
        assert stdout_of(res, job) == "audited\n"
    assert audit.seen == [
        ("call", "t", ["echo", "audited"], None),
        ("result", True, job.native_id, job.sandbox),
    ]


def test_wrapper_can_refuse_a_submission(tmp_path, registered):
    class RateLimit:
        @lrms.hookimpl(wrapper=True)
        def submit_job(self, resource, app, job):
            raise ResourceFull(f"resource {resource.name}: rate limit reached")
            yield  # pragma: no cover

    registered(RateLimit())
    recorder = registered(Recorder())
    with make_resource(tmp_path) as res:
        app = Application(["true"])
        with pytest.raises(ResourceFull, match="rate limit"):
            res.submit_job(app, Job(app))
    assert sandboxes(tmp_path) == []
    assert "submitted" not in [event[0] for event in recorder.events]


# -- close and ownership -------------------------------------------------------------------


def test_close_is_idempotent_and_calls_the_backend_once(tmp_path, registered):
    class CloseCounter:
        calls = 0

        @lrms.hookimpl(wrapper=True)
        def close(self, resource):
            CloseCounter.calls += 1
            return (yield)

    registered(CloseCounter())
    res = make_resource(tmp_path)
    res.close()
    res.close()
    with res:
        pass
    assert CloseCounter.calls == 1


def test_calls_after_close_raise(tmp_path):
    res = make_resource(tmp_path)
    job = wait(res, submit(res, ["echo", "hi"]))
    running = submit(res, ["sleep", "30"])
    res.cancel_job(running)
    wait(res, running)
    res.close()
    res.close()
    app = Application(["true"])
    calls = {
        "submit_job": lambda: res.submit_job(app, Job(app)),
        "update_job_state": lambda: res.update_job_state(job),
        "update_job_states": lambda: res.update_job_states([job]),
        "cancel_job": lambda: res.cancel_job(running),
        "get_results": lambda: res.get_results(job, str(tmp_path)),
        "peek": lambda: res.peek(job, "stdout", io.BytesIO()),
        "free": lambda: res.free(job),
        "get_resource_status": lambda: res.get_resource_status(),
    }
    for name, call in calls.items():
        with pytest.raises(LRMSError, match="closed"):
            call()
            pytest.fail(f"{name} worked after close()")
    assert sandboxes(tmp_path) == sorted([job.jobid, running.jobid])  # free() did nothing


def test_validate_data_after_close_raises(tmp_path):
    res = make_resource(tmp_path)
    res.close()
    with pytest.raises(LRMSError, match="closed"):
        res.validate_data(["file:///etc/hosts"])


def test_job_of_another_resource_is_refused(tmp_path):
    with make_resource(tmp_path, "t") as mine, make_resource(tmp_path, "other") as other:
        running = submit(mine, ["sleep", "30"])
        try:
            for call in (
                lambda: other.update_job_state(running),
                lambda: other.update_job_states([running]),
                lambda: other.cancel_job(running),
                lambda: other.peek(running, "stdout", io.BytesIO()),
                lambda: other.get_results(running, str(tmp_path)),
            ):
                with pytest.raises(InvalidJobState) as info:
                    call()
                assert "other" in str(info.value)
                assert running.jobid in str(info.value)
            assert running.state == State.SUBMITTED  # untouched by the refusals
        finally:
            mine.cancel_job(running)
            wait(mine, running)
        with pytest.raises(InvalidJobState, match="other"):
            other.free(running)
        assert sandboxes(tmp_path, "t") == [running.jobid]  # not deleted
        mine.free(running)
        assert sandboxes(tmp_path, "t") == []
