"""The Slurm backend through the public LRMS API, against the real single-node Slurm 22.05.

The cluster (``tests/services/start-slurm.sh``, partition ``debug``, 2 CPUs,
accounting on) is shared with other test runs: jobs ask for 1 core and little
memory, waits are generous, and every job a test submits is cancelled when it
ends.  ``Recording`` is the real local transport that also keeps each argv,
to count scheduler commands.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import lrms
from lrms import Application, Dependency, Job, State, TerminationReason
from lrms.transport import CommandResult, LocalTransport

SERVICES = Path(__file__).resolve().parents[3] / "tests" / "services"
Why = TerminationReason
SCHEDULER = ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo")
HOSTILE = [
    "plain", "", " two  spaces ", "'single'", '"double"', "$(touch pwned)", "`touch pwned`",
    "${HOME}", "line\nbreak", "tab\there", "*", "?[a-z]*", "-n", "--help", "-", "back\\slash",
    "semi;colon && echo no | cat > x", "ünïcödé ✓ 日本", "%j %x %%", "'\"'\"'", "\\$HOME",
]


class Recording(LocalTransport):
    """The local transport, keeping the argv of every command it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[list[str]] = []

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.commands.append(list(argv))
        return super().run(argv, **kwargs)

    def scheduler_commands(self) -> list[str]:
        """The Slurm command each command ran (scontrol runs under /bin/sh)."""
        return [name for argv in self.commands
                for name in [next((a for a in argv if a in SCHEDULER), None)] if name]


class Tracker:
    """An extension plugin that remembers every submitted job, to cancel them afterwards."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    @lrms.hookimpl
    def job_submitted(self, resource: lrms.LRMS, job: Job) -> None:
        self.ids.append(job.native_id or "")

    def cancel_all(self) -> None:
        if self.ids:
            subprocess.run(["scancel", *self.ids], check=False, capture_output=True)


def make_resource(slurm: dict[str, str], spool: Path, **options: Any) -> lrms.LRMS:
    options.setdefault("max_gpus_per_job", 4)
    return lrms.LRMS("cluster", ["x86_64"], 2, 2, "1GiB", "1h", backend="slurm",
                     transport=Recording(),
                     partition=slurm["LRMS_SLURM_PARTITION"], spool=str(spool), **options)


@pytest.fixture(autouse=True)
def tracker() -> Iterator[Tracker]:
    plugin = Tracker()
    lrms.register(plugin)
    try:
        yield plugin
    finally:
        lrms.unregister(plugin)
        plugin.cancel_all()


@pytest.fixture
def cluster(slurm: dict[str, str], tmp_path: Path) -> Iterator[lrms.LRMS]:
    """A resource whose spool path has a space and sbatch's filename pattern ``%j``."""
    res = make_resource(slurm, tmp_path / "spool %j")
    yield res
    res.close()


def submit(res: lrms.LRMS, app: Application) -> Job:
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    return job


def wait(res: lrms.LRMS, jobs: Sequence[Job], until: State = State.TERMINATED,
         timeout: float = 90) -> None:
    """Poll (batched) until every job is in ``until``."""
    deadline = time.monotonic() + timeout
    while any(state != until for state in res.update_job_states(jobs)):
        assert time.monotonic() < deadline, f"not {until} after {timeout}s: {jobs}"
        time.sleep(0.3)


def small(argv: list[str], **kwargs: Any) -> Application:
    kwargs.setdefault("requested_memory", "100MiB")
    return Application(argv, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def walltime_job(slurm: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[tuple[lrms.LRMS, Job]]:
    """A job over its 1-minute limit, submitted when the module starts.

    Slurm checks time limits about every 30 s, so it ends 60-90 s after it
    starts: the other tests run meanwhile, and test_over_walltime (last) waits.
    """
    res = make_resource(slurm, tmp_path_factory.mktemp("walltime"))
    job = submit(res, small(["sleep", "600"], requested_walltime="1min"))
    try:
        yield res, job
    finally:
        subprocess.run(["scancel", job.native_id or ""], check=False)
        res.close()


# --- outcomes -----------------------------------------------------------------------


def test_success_end_to_end(cluster: lrms.LRMS, tmp_path: Path) -> None:
    data = tmp_path / "in.txt"
    data.write_text("hello input\n")
    app = small(["sh", "-c", 'cat in.txt; cat in.txt > out.txt; echo "$GREETING" >&2; sleep 1'],
                inputs=[str(data)], outputs=["out.txt", "stdout"],
                environment={"GREETING": "hi there"}, requested_walltime="10min")
    job = submit(cluster, app)
    wait(cluster, [job])
    assert (job.exitcode, job.signal, job.returncode) == (0, None, 0)
    assert job.termination_reason == Why.EXITED
    # Accounting may lag the queue by a moment (then usage is missing): a later poll
    # of the same job, as another process would make, finds it.
    later = Job.from_dict(job.to_dict())
    later.state = State.SUBMITTED
    time.sleep(1)
    cluster.update_job_state(later)
    assert later.used_walltime is not None and 1 <= later.used_walltime.seconds < 30
    assert later.used_cputime is not None and later.max_used_memory is not None
    assert later.max_used_memory.bytes > 0
    out = io.BytesIO()
    assert cluster.peek(job, "stdout", out) == len(b"hello input\n")
    assert out.getvalue() == b"hello input\n"
    err = io.BytesIO()
    assert cluster.peek(job, "stderr", err, offset=-6) == 6
    assert err.getvalue() == b"there\n"
    down = tmp_path / "down"
    down.mkdir()
    assert sorted(cluster.get_results(job, down)) == [str(down / "out.txt"),
                                                      str(down / "stdout")]
    assert (down / "out.txt").read_text() == "hello input\n"
    assert job.sandbox is not None and "spool %j" in job.sandbox
    assert (Path(job.sandbox) / ".lrms" / "scheduler.out").exists()  # %j stayed literal
    cluster.free(job)
    assert not Path(job.sandbox).exists()


def test_exit_codes_three_and_200(cluster: lrms.LRMS) -> None:
    """sacct shows exit code 200 as 72 (it keeps 7 bits): the script's exit file corrects it."""
    three, high = (submit(cluster, small(["sh", "-c", f"exit {code}"])) for code in (3, 200))
    wait(cluster, [three, high])
    assert (three.exitcode, three.signal, three.returncode) == (3, None, 3)
    assert (high.exitcode, high.signal, high.returncode) == (200, None, 200)
    assert three.termination_reason == high.termination_reason == Why.EXITED


def test_killed_by_signal(cluster: lrms.LRMS) -> None:
    job = submit(cluster, small(["sh", "-c", "kill -9 $$"]))
    wait(cluster, [job])
    assert (job.exitcode, job.signal, job.returncode) == (None, 9, 137)
    assert job.termination_reason == Why.SIGNALLED


def test_cancel_pending(cluster: lrms.LRMS) -> None:
    app = small(["true"], extra={"slurm": {"extra_args": ["--begin=now+1hour"]}})
    job = submit(cluster, app)
    assert cluster.update_job_state(job) == State.SUBMITTED
    assert job.status_message == "BeginTime"
    cluster.cancel_job(job)
    assert job.state == State.TERMINATING
    wait(cluster, [job])
    assert job.termination_reason == Why.CANCELLED
    assert (job.exitcode, job.signal) == (None, None)  # it never ran


def test_cancel_running(cluster: lrms.LRMS) -> None:
    job = submit(cluster, small(["sleep", "300"]))
    wait(cluster, [job], State.RUNNING)
    cluster.cancel_job(job)
    wait(cluster, [job])
    assert (job.termination_reason, job.signal) == (Why.CANCELLED, 15)
    assert [state for state, _ in job.history][-3:] == [
        State.RUNNING, State.TERMINATING, State.TERMINATED]
    cluster.cancel_job(job)  # already over: nothing happens


def test_over_memory(cluster: lrms.LRMS) -> None:
    grab = "b = bytearray(300 * 1024 * 1024); import time; time.sleep(10)"
    job = submit(cluster, small([sys.executable, "-c", grab], requested_memory="50MiB"))
    wait(cluster, [job])
    assert (job.termination_reason, job.signal) == (Why.MEMORY_EXCEEDED, 9)
    assert job.max_used_memory is not None and job.max_used_memory > lrms.Memory("50MiB")
    assert job.status_message is not None and "50MiB requested" in job.status_message


def test_held_job_is_stopped_until_released(cluster: lrms.LRMS) -> None:
    job = submit(cluster, small(["true"], extra={"slurm": {"extra_args": ["--hold"]}}))
    assert cluster.update_job_state(job) == State.STOPPED
    assert job.status_message == "JobHeldUser"
    cluster.transport.check(["scontrol", "release", job.native_id or ""])
    wait(cluster, [job])
    assert (job.exitcode, job.termination_reason) == (0, Why.EXITED)


def test_array_job_is_one_job(cluster: lrms.LRMS) -> None:
    app = small(["true"], extra={"slurm": {"extra_args": ["--array=1-3"]}})
    job = submit(cluster, app)
    wait(cluster, [job])
    assert (job.exitcode, job.termination_reason) == (0, Why.EXITED)
    assert job.status_message == "array tasks: 3 COMPLETED"


def test_hostile_argv_and_environment_reach_the_program_exactly(cluster: lrms.LRMS) -> None:
    dump = ("import json, os, sys; json.dump([sys.argv[1:], os.environ['HOSTILE']], "
            "open('argv.json', 'w'))")
    app = small([sys.executable, "-c", dump, *HOSTILE], outputs=["argv.json"],
                environment={"HOSTILE": "".join(HOSTILE)},
                jobname="name\ntouch pwned; $(touch pwned)")
    job = submit(cluster, app)
    wait(cluster, [job])
    assert job.exitcode == 0
    assert job.sandbox is not None
    sandbox = Path(job.sandbox)
    argv, env = json.loads((sandbox / "argv.json").read_text())
    assert argv == HOSTILE
    assert env == "".join(HOSTILE)
    assert not list(sandbox.rglob("pwned"))


def test_fifty_jobs_answered_by_one_batched_query(cluster: lrms.LRMS) -> None:
    recording = cluster.transport
    assert isinstance(recording, Recording)
    jobs = [submit(cluster, small(["sh", "-c", f"exit {n % 4}"])) for n in range(50)]
    recording.commands.clear()
    cluster.update_job_states(jobs)
    assert recording.scheduler_commands()[0] == "squeue"
    assert recording.commands[0][-1] == "--jobs=" + ",".join(job.native_id or "" for job in jobs)
    deadline = time.monotonic() + 120
    while True:
        recording.commands.clear()
        states = cluster.update_job_states(jobs)
        asked = recording.scheduler_commands()
        # scontrol only fills in exit codes that accounting has not recorded yet
        assert asked[:1] == ["squeue"] and len(set(asked)) == len(asked), asked
        if set(states) == {State.TERMINATED}:
            break
        assert time.monotonic() < deadline, states
        time.sleep(1)
    assert [job.exitcode for job in jobs] == [n % 4 for n in range(50)]


# --- refusals and dry run ----------------------------------------------------------


def test_unknown_partition_is_refused_with_slurms_message(cluster: lrms.LRMS) -> None:
    app = small(["true"], extra={"slurm": {"partition": "no-such-partition"}})
    job = Job(app)
    with pytest.raises(lrms.SubmissionRefused, match=r"(?i)invalid partition") as refused:
        cluster.submit_job(app, job)
    assert "no-such-partition" in str(refused.value)
    assert job.native_id is None and job.sandbox is None
    assert not list((Path(cluster.backend.spool) / "jobs").iterdir())


def test_over_the_limits_is_refused_before_sbatch(cluster: lrms.LRMS) -> None:
    recording = cluster.transport
    assert isinstance(recording, Recording)
    for app in (small(["true"], requested_cores=3), small(["true"], requested_memory="3GiB"),
                small(["true"], requested_walltime="2h")):
        with pytest.raises(lrms.LimitExceeded):
            cluster.submit_job(app, Job(app))
    assert recording.commands == []


def test_unknown_application_option_is_refused(cluster: lrms.LRMS) -> None:
    app = small(["true"], extra={"slurm": {"partitoin": "debug"}})
    with pytest.raises(lrms.LRMSError, match="partitoin: unknown option"):
        cluster.submit_job(app, Job(app))


def test_dry_run_renders_script_and_argv_without_submitting(slurm: dict[str, str],
                                                           tmp_path: Path) -> None:
    res = make_resource(slurm, tmp_path / "spool", account="physics", qos="long",
                        extra_args=["--exclusive"], prologue=["module load x"])
    app = Application(["prog", "it's", "$(x)"], requested_cores=2, requested_memory="1.5GiB",
                      requested_walltime="50min", jobname="my\njob",
                      extra={"slurm": {"partition": "other", "extra_args": ["--hold"]}})
    job = Job(app)
    script, submission = res.backend.dry_run(app, job)
    argv = submission.argv
    sandbox = f"{tmp_path}/spool/jobs/{job.jobid}"
    assert argv == [
        "sbatch", "--parsable", "--job-name=my_job", f"--chdir={sandbox}",
        f"--output={sandbox}/.lrms/scheduler.out", "--nodes=1", "--ntasks=1",
        "--ntasks-per-node=1", "--cpus-per-task=2", "--mem=1536M", "--time=00:50:00",
        "--partition=other", "--account=physics", "--qos=long", "--exclusive", "--hold",
        f"{sandbox}/.lrms/job.sh"]
    assert "module load x\n" in script and f"# lrms job {job.jobid};" in script
    assert "\n  prog 'it'\"'\"'s' '$(x)' < /dev/null > stdout 2> stderr\n" in script
    assert job.native_id is None and job.sandbox is None
    assert isinstance(res.transport, Recording) and res.transport.commands == []


# --- the job template ------------------------------------------------------------------


def shown(native_id: str) -> dict[str, str]:
    """What the controller holds of a job: ``scontrol show job --oneliner`` as a dict."""
    line = subprocess.run(["scontrol", "--oneliner", "show", "job", native_id], check=True,
                          capture_output=True, text=True).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", line))


def local_time(text: str) -> float:
    """A time scontrol prints (the controller's local time) as a POSIX time."""
    return datetime.datetime.fromisoformat(text).timestamp()


def test_dry_run_maps_every_template_field(slurm: dict[str, str], tmp_path: Path) -> None:
    """Template fields win over the resource's and the application's options of the same
    name; requests are per node and per task, memory the job's total split over nodes."""
    res = make_resource(slurm, tmp_path / "spool", account="physics", qos="long",
                        reservation="res", constraint="old", extra_args=["--comment=x"])
    begin = time.time() + 3600
    app = Application(
        ["prog"], requested_cores=1, requested_memory="1.5GiB", requested_gpus=2, nodes=2,
        tasks_per_node=1, account="chem", qos="high", reservation="maint",
        constraint="fast&ib", email="me@example.org", email_events=["end", "begin"],
        hold=True, earliest_start=begin, exclusive=True,
        after=[Dependency("a", "ok", "11"), Dependency("b", "any", "12"),
               Dependency("c", "ok", "13")],
        extra={"slurm": {"qos": "ignored", "partition": "other"}})
    job = Job(app)
    _, submission = res.backend.dry_run(app, job)
    sandbox = f"{tmp_path}/spool/jobs/{job.jobid}"
    argv = list(submission.argv)
    begin_arg = next(a for a in argv if a.startswith("--begin=now+"))
    assert 3590 <= int(begin_arg.removeprefix("--begin=now+")) <= 3600
    assert argv == [
        "sbatch", "--parsable", "--job-name=prog", f"--chdir={sandbox}",
        f"--output={sandbox}/.lrms/scheduler.out", "--nodes=2", "--ntasks=2",
        "--ntasks-per-node=1", "--cpus-per-task=1", "--mem=768M", "--gpus-per-node=2",
        "--partition=other", "--account=chem", "--qos=high", "--reservation=maint",
        "--constraint=fast&ib", "--mail-user=me@example.org", "--mail-type=BEGIN,END",
        "--hold", begin_arg, "--dependency=afterok:11:13,afterany:12", "--exclusive",
        "--comment=x", f"{sandbox}/.lrms/job.sh"]
    # Without those fields the resource's options stand; a past start adds nothing, and an
    # address without events only names the address (Slurm's mail type stays NONE).
    plain = Application(["prog"], earliest_start=time.time() - 60, email="me@example.org")
    _, submission = res.backend.dry_run(plain, Job(plain))
    assert [a for a in submission.argv if a.startswith(("--account", "--qos", "--res",
                                                        "--cons", "--begin", "--mail"))] == [
        "--account=physics", "--qos=long", "--reservation=res", "--constraint=old",
        "--mail-user=me@example.org"]
    res.close()


def test_gpus_over_the_limit_and_dependencies_without_native_id_are_refused(
        cluster: lrms.LRMS) -> None:
    recording = cluster.transport
    assert isinstance(recording, Recording)
    for app, says in ((small(["true"], requested_gpus=3, nodes=2), "6 GPUs requested"),
                      (small(["true"], after=["some-job"]), "native id")):
        with pytest.raises(lrms.LimitExceeded, match=says):
            cluster.submit_job(app, Job(app))
    assert recording.commands == []


def test_slurm_receives_the_template_fields(cluster: lrms.LRMS, slurm: dict[str, str]) -> None:
    """What the controller holds (scontrol show job) of a held job with every field; then
    lrms release lets it wait for its begin time only."""
    begin = time.time() + 3600
    app = small(["true"], requested_gpus=1, tasks_per_node=2, account=slurm["LRMS_SLURM_ACCOUNT"],
                qos=slurm["LRMS_SLURM_QOS"], constraint="fast&ib", email="me@example.org",
                email_events=["begin", "end", "fail"], hold=True, earliest_start=begin,
                exclusive=True)
    job = submit(cluster, app)
    held = shown(job.native_id or "")
    assert (held["Account"], held["QOS"]) == ("lrms-test", "lrms-high")
    # NumNodes is a range while the job waits (min-max: exactly one)
    assert (held["NumNodes"], held["NumTasks"], held["CPUs/Task"]) == ("1-1", "2", "1")
    assert "gres/gpu=1" in held["TRES"] and held["TresPerNode"] == "gres:gpu:1"
    assert (held["Features"], held["OverSubscribe"]) == ("fast&ib", "NO")
    assert (held["MailUser"], held["MailType"]) == ("me@example.org", "BEGIN,END,FAIL")
    assert (held["Priority"], held["Reason"]) == ("0", "JobHeldUser")
    assert abs(local_time(held["StartTime"]) - begin) <= 2
    assert cluster.update_job_state(job) == State.STOPPED
    cluster.release_job(job)
    released = shown(job.native_id or "")
    assert released["Priority"] != "0" and released["Reason"] in ("None", "BeginTime")
    assert cluster.update_job_state(job) == State.SUBMITTED
    cluster.cancel_job(job)


def test_slurm_receives_the_reservation(cluster: lrms.LRMS, slurm: dict[str, str]) -> None:
    """A reservation of the cluster's spare license (no nodes, so no other job waits for
    it), made for this test and deleted once the job in it is gone."""
    name = f"lrms-test-{os.getpid()}"
    subprocess.run(["scontrol", "create", "reservation", f"ReservationName={name}",
                    "StartTime=now+1day", "Duration=10", "Users=root",
                    f"Licenses={slurm['LRMS_SLURM_LICENSE']}:1", "Flags=LICENSE_ONLY"],
                   check=True, capture_output=True)
    job = None
    try:
        job = submit(cluster, small(["true"], reservation=name, hold=True))
        assert shown(job.native_id or "")["Reservation"] == name
    finally:
        if job is not None:
            cluster.cancel_job(job)
            wait(cluster, [job])
        subprocess.run(["scontrol", "delete", f"ReservationName={name}"], check=True,
                       capture_output=True)


def test_two_nodes_reach_slurm(cluster: lrms.LRMS) -> None:
    """The cluster has one node: Slurm refuses two, which shows it read --nodes=2."""
    app = small(["true"], nodes=2, hold=True)
    with pytest.raises(lrms.SubmissionRefused, match="Node count specification invalid"):
        cluster.submit_job(app, Job(app))


def test_srun_launcher_starts_the_program_on_every_task(cluster: lrms.LRMS) -> None:
    app = small(["sh", "-c", 'echo "task $SLURM_PROCID of $SLURM_NTASKS"'], launcher="srun",
                tasks_per_node=2)
    job = submit(cluster, app)
    wait(cluster, [job])
    assert job.exitcode == 0 and job.sandbox is not None
    assert sorted((Path(job.sandbox) / "stdout").read_text().splitlines()) == [
        "task 0 of 2", "task 1 of 2"]


def test_gpu_job_runs_and_the_status_counts_its_gpu(cluster: lrms.LRMS, tmp_path: Path,
                                                    slurm: dict[str, str]) -> None:
    go = tmp_path / "go"
    script = f'echo "$CUDA_VISIBLE_DEVICES" > gpus.txt; while [ ! -e {go} ]; do sleep 0.2; done'
    job = submit(cluster, small(["sh", "-c", script], requested_gpus=1))
    wait(cluster, [job], State.RUNNING)
    status = cluster.get_resource_status()
    assert status.details["gpus_total"] == int(slurm["LRMS_SLURM_GPUS"])
    assert 1 <= status.details["gpus_allocated"] <= status.details["gpus_total"]
    assert status.details["gpus_free"] == (status.details["gpus_total"]
                                           - status.details["gpus_allocated"])
    go.touch()
    wait(cluster, [job])
    assert job.exitcode == 0 and job.sandbox is not None
    assert (Path(job.sandbox) / "gpus.txt").read_text().strip() in ("0", "1")


def test_dependent_job_starts_after_its_dependency_ended(cluster: lrms.LRMS,
                                                         tmp_path: Path) -> None:
    go = tmp_path / "go"
    first = submit(cluster, small(["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.2; done"]))
    then = submit(cluster, small(["true"], after=[
        Dependency(first.jobid, "ok", first.native_id)]))
    assert shown(then.native_id or "")["Dependency"] == f"afterok:{first.native_id}(unfulfilled)"
    assert cluster.update_job_state(then) == State.SUBMITTED
    assert then.status_message == "Dependency"
    go.touch()
    wait(cluster, [first, then])
    assert (first.exitcode, then.exitcode) == (0, 0)
    times = subprocess.run(
        ["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobID,Start,End",
         f"--jobs={first.native_id},{then.native_id}"],
        check=True, capture_output=True, text=True).stdout
    rows = {jobid: (start, end) for jobid, start, end in
            (line.split("|") for line in times.splitlines())}
    assert local_time(rows[then.native_id or ""][0]) >= local_time(rows[first.native_id or ""][1])


def test_ok_dependency_on_a_failed_job_is_never_satisfied(cluster: lrms.LRMS) -> None:
    """afterok on a job that failed: Slurm leaves the dependent pending for good (reported
    STOPPED, with Slurm's reason) for the engine to end; afterany runs."""
    failed = submit(cluster, small(["sh", "-c", "exit 3"]))
    native = Dependency(failed.jobid, "ok", failed.native_id)
    never = submit(cluster, small(["true"], after=[native]))
    anyway = submit(cluster, small(["true"], after=[
        Dependency(failed.jobid, "any", failed.native_id)]))
    wait(cluster, [never], State.STOPPED)
    assert never.status_message == "DependencyNeverSatisfied"
    assert shown(never.native_id or "")["Dependency"] == f"afterok:{failed.native_id}(failed)"
    wait(cluster, [failed, anyway])
    assert (failed.exitcode, anyway.exitcode) == (3, 0)
    cluster.cancel_job(never)
    wait(cluster, [never])
    assert never.termination_reason == Why.CANCELLED


# --- degraded information -----------------------------------------------------------


def test_without_accounting_scontrol_and_exit_file_carry_it(slurm: dict[str, str],
                                                           tmp_path: Path) -> None:
    res = make_resource(slurm, tmp_path / "spool", accounting=False)
    recording = res.transport
    assert isinstance(recording, Recording)
    three, killed = (submit(res, small(["sh", "-c", code])) for code in ("exit 3", "kill -9 $$"))
    wait(res, [three, killed])
    assert "sacct" not in recording.scheduler_commands()
    assert (three.exitcode, three.termination_reason) == (3, Why.EXITED)
    assert (killed.signal, killed.termination_reason) == (9, Why.SIGNALLED)
    # A job the controller has forgotten: its script's exit file answers.
    forgotten = Job.from_dict({**three.to_dict(), "native_id": "67000000", "exitcode": None})
    forgotten.state = State.SUBMITTED
    recording.commands.clear()
    assert res.update_job_state(forgotten) == State.TERMINATED
    assert (forgotten.exitcode, forgotten.termination_reason) == (3, Why.EXITED)
    assert recording.scheduler_commands() == ["squeue"]
    res.close()


def test_failing_sacct_degrades_to_scontrol(slurm: dict[str, str], tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    res = make_resource(slurm, tmp_path / "spool", sacct_command="/bin/false")
    job = submit(res, small(["sh", "-c", "exit 3"]))
    with caplog.at_level(logging.WARNING, logger="lrms_slurm"):
        wait(res, [job])
    assert (job.exitcode, job.termination_reason) == (3, Why.EXITED)
    assert "sacct gave no usable answer" in caplog.text
    assert isinstance(res.transport, Recording) and "scontrol" in res.transport.scheduler_commands()
    res.close()


def test_failing_squeue_makes_jobs_unknown(slurm: dict[str, str], tmp_path: Path) -> None:
    res = make_resource(slurm, tmp_path / "spool")
    job = submit(res, small(["true"]))
    broken = make_resource(slurm, tmp_path / "spool", squeue_command="/bin/false")
    with pytest.raises(lrms.CommandFailed, match=r"resource .*: /bin/false .*failed on"):
        broken.update_job_states([job])
    assert job.state == State.UNKNOWN
    wait(res, [job])
    assert job.exitcode == 0
    res.close()
    broken.close()


def test_slurmctld_outage_makes_jobs_unknown_then_they_recover(slurm: dict[str, str],
                                                               tmp_path: Path) -> None:
    """squeue gives up on a stopped controller after ~18 s; a 3 s query_timeout keeps the
    outage of the shared cluster to ~6 s (test_failing_squeue covers a failing squeue)."""
    res = make_resource(slurm, tmp_path / "spool", query_timeout=3)
    job = submit(res, small(["sh", "-c", "sleep 3; exit 5"]))
    wait(res, [job], State.RUNNING)
    try:
        subprocess.run(["bash", str(SERVICES / "stop-slurm.sh"), "slurmctld"], check=True,
                       capture_output=True, timeout=60)
        with pytest.raises(lrms.TransportError, match="squeue did not finish within 3"):
            res.update_job_states([job])
        assert job.state == State.UNKNOWN
    finally:
        subprocess.run(["bash", str(SERVICES / "start-slurm.sh")], check=True,
                       capture_output=True, timeout=120)
    wait(res, [job])
    assert (job.exitcode, job.termination_reason) == (5, Why.EXITED)
    assert State.UNKNOWN in [state for state, _ in job.history]
    res.close()


# --- arrays (LRMS.submit_jobs) ----------------------------------------------------------


def sbatch_calls(recording: lrms.transport.Transport) -> list[list[str]]:
    assert isinstance(recording, Recording)
    return [argv for argv in recording.commands if argv[0] == "sbatch"]


def test_array_tasks_are_jobs_of_their_own(cluster: lrms.LRMS, tmp_path: Path) -> None:
    """Four tasks, one ``sbatch --array=0-3%2``: each task has its own id ``A_I``, sandbox,
    index, outputs and outcome (its exit file's code whole, a signal); one is cancelled
    alone; one poll asks each scheduler command once for all of them."""
    script = ('echo "$LRMS_TASK_INDEX $1" > out.txt; '
              'case $1 in sleep) exec sleep 300;; kill) kill -9 $$;; esac; exit "$1"')
    words = ["sleep", "0", "200", "kill"]
    apps = [small(["sh", "-c", script, "task", word], outputs=["out.txt"], jobname=f"t-{word}")
            for word in words]
    jobs = [Job(app) for app in apps]
    recording = cluster.transport
    assert isinstance(recording, Recording)
    recording.commands.clear()
    cluster.submit_jobs(apps, jobs, throttle=2)
    (sbatch,) = sbatch_calls(recording)
    assert sbatch[-2] == "--array=0-3%2"
    array = jobs[0].backend_data["array"]
    assert [job.native_id for job in jobs] == [f"{array}_{i}" for i in range(4)]
    assert len({job.sandbox for job in jobs}) == 4
    for job in jobs:
        job.state = State.SUBMITTED
    wait(cluster, jobs[:1], State.RUNNING)
    started = time.monotonic() + 30  # running, and its script has written out.txt
    while not os.path.exists(os.path.join(jobs[0].sandbox or "", "out.txt")):
        assert time.monotonic() < started, "task 0 never wrote out.txt"
        time.sleep(0.05)
    cluster.cancel_job(jobs[0])
    assert recording.commands[-1] == ["scancel", f"{array}_0"]
    deadline = time.monotonic() + 90
    while True:  # wait(), checking each poll's commands
        recording.commands.clear()
        states = cluster.update_job_states(jobs)
        asked = recording.scheduler_commands()
        assert asked[0] == "squeue" and len(asked) == len(set(asked)), asked
        assert f"--jobs={array}" in recording.commands[0]  # the array's id, not its tasks'
        if set(states) == {State.TERMINATED}:
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.3)
    assert [(job.exitcode, job.signal, job.termination_reason) for job in jobs] == [
        (None, 15, Why.CANCELLED), (0, None, Why.EXITED), (200, None, Why.EXITED),
        (None, 9, Why.SIGNALLED)]
    for index, (job, word) in enumerate(zip(jobs, words, strict=True)):
        down = tmp_path / f"task{index}"
        down.mkdir()
        assert cluster.get_results(job, down) == [str(down / "out.txt")]
        assert (down / "out.txt").read_text() == f"{index} {word}\n"


def test_an_array_over_max_array_size_is_split(slurm: dict[str, str], tmp_path: Path) -> None:
    """MaxArraySize tasks and one more (held): two arrays, ``A_0 .. A_<max-1>`` and ``B_0``;
    MaxArraySize read once (``scontrol show config``); one squeue answers every task;
    a task released alone runs, one cancelled alone ends cancelled; ``cancel_array`` is
    one ``scancel A``; its tasks, forgotten by the queue, are found cancelled in sacct."""
    size = int(slurm["LRMS_SLURM_MAX_ARRAY_SIZE"])
    res = make_resource(slurm, tmp_path / "spool")
    try:
        apps = [small(["sh", "-c", 'exit "$1"', "task", str(n % 7)], hold=True)
                for n in range(size + 1)]
        jobs = [Job(app) for app in apps]
        recording = res.transport
        assert isinstance(recording, Recording)
        res.submit_jobs(apps, jobs)
        assert recording.scheduler_commands() == ["scontrol", "sbatch", "sbatch"]
        assert [argv[-2] for argv in sbatch_calls(recording)] == [
            f"--array=0-{size - 1}", "--array=0-0"]
        first, second = jobs[0].backend_data["array"], jobs[-1].backend_data["array"]
        assert first != second
        assert (jobs[size - 1].native_id, jobs[size].native_id) == (f"{first}_{size - 1}",
                                                                      f"{second}_0")
        for job in jobs:
            job.state = State.SUBMITTED
        recording.commands.clear()
        assert res.update_job_states(jobs) == [State.STOPPED] * (size + 1)
        assert recording.scheduler_commands() == ["squeue"]
        res.release_job(jobs[-1])
        res.cancel_job(jobs[3])
        wait(res, [jobs[-1], jobs[3]])
        assert (jobs[-1].exitcode, jobs[-1].termination_reason) == (size % 7, Why.EXITED)
        assert jobs[3].termination_reason == Why.CANCELLED
        assert res.update_job_state(jobs[4]) == State.STOPPED
        recording.commands.clear()
        more = [small(["true"]) for _ in range(2)]
        res.submit_jobs(more, [Job(app) for app in more])
        assert recording.scheduler_commands() == ["sbatch"]  # MaxArraySize kept
        res.cancel_array(first, jobs[:size])
        assert recording.commands[-1] == ["scancel", first]
        # Tasks cancelled while pending, the queue forgetting them (as past MinJobAge):
        # sacct, asked for their array, lists them as one range.
        aged = make_resource(slurm, tmp_path / "spool", squeue_command="true")
        try:
            fresh = forget([jobs[0], jobs[size - 1]])
            for job, old in zip(fresh, (jobs[0], jobs[size - 1]), strict=True):
                job.native_id, job.sandbox, job.resource = old.native_id, old.sandbox, "cluster"
                job.state = State.SUBMITTED
            wait(aged, fresh)
            assert [job.termination_reason for job in fresh] == [Why.CANCELLED] * 2
            assert isinstance(aged.transport, Recording)
            sacct = next(argv for argv in aged.transport.commands if argv[0] == "sacct")
            assert sacct[-1] == f"--jobs={first}"
        finally:
            aged.close()
    finally:
        res.close()


# --- interrupted submissions (find_jobs) ------------------------------------------------


def forget(jobs: Sequence[Job]) -> list[Job]:
    """The jobs as a store has them when the submitter was killed before recording the id."""
    return [Job(job.app, jobid=job.jobid) for job in jobs]


def programs(recording: lrms.transport.Transport) -> list[str]:
    assert isinstance(recording, Recording)
    return [argv[0] for argv in recording.commands]


def test_find_jobs_pending_and_finished_in_one_squeue(cluster: lrms.LRMS,
                                                      tmp_path: Path) -> None:
    held = submit(cluster, small(["true"], extra={"slurm": {"extra_args": ["--hold"]}}))
    done = submit(cluster, small(["sh", "-c", "echo out > out.txt"], outputs=["out.txt"]))
    wait(cluster, [done])
    jobs = [held, done, *(submit(cluster, small(["true"])) for _ in range(3))]
    fresh = forget(jobs)
    recording = cluster.transport
    assert isinstance(recording, Recording)
    recording.commands.clear()
    assert cluster.find_jobs(fresh) == [True] * 5
    assert recording.scheduler_commands() == ["squeue"] and len(recording.commands) == 1
    for old, new in zip(jobs, fresh, strict=True):
        assert (new.native_id, new.sandbox, new.resource) == (old.native_id, old.sandbox,
                                                               "cluster")
    recovered_held, recovered_done = fresh[:2]
    recovered_held.state = recovered_done.state = State.SUBMITTED
    assert cluster.update_job_states([recovered_held, recovered_done]) == [
        State.STOPPED, State.TERMINATED]
    assert recovered_done.exitcode == 0
    down = tmp_path / "down"
    down.mkdir()
    assert cluster.get_results(recovered_done, down) == [str(down / "out.txt")]
    cluster.cancel_job(recovered_held)
    wait(cluster, [recovered_held])
    assert recovered_held.termination_reason == Why.CANCELLED
    # A job sbatch never saw: asked of squeue, sacct, then its (absent) sandbox.
    never = Job(small(["true"]))
    recording.commands.clear()
    assert cluster.find_jobs([never]) == [False]
    assert recording.scheduler_commands() == ["squeue", "sacct"]
    assert programs(recording)[2:] == ["/bin/sh"]
    assert (never.native_id, never.sandbox, never.resource) == (None, None, None)


def test_find_jobs_in_accounting_after_the_queue_forgot_them(cluster: lrms.LRMS,
                                                            slurm: dict[str, str]) -> None:
    """A squeue that lists nothing (``squeue_command: true``), as for jobs past MinJobAge:
    sacct finds them by their working directory, all in one call."""
    jobs = [submit(cluster, small(["sh", "-c", f"exit {n}"])) for n in (0, 4)]
    wait(cluster, jobs)
    aged = make_resource(slurm, Path(cluster.backend.spool), squeue_command="true")
    fresh = forget(jobs)
    never = Job(small(["true"]))
    try:
        assert aged.find_jobs([*fresh, never]) == [True, True, False]
        assert programs(aged.transport) == ["true", "sacct", "/bin/sh"]
        assert [job.native_id for job in fresh] == [job.native_id for job in jobs]
        for job in fresh:
            job.state = State.SUBMITTED
        assert cluster.update_job_states(fresh) == [State.TERMINATED] * 2
        assert [job.exitcode for job in fresh] == [0, 4]
    finally:
        aged.close()


def test_find_jobs_by_the_id_the_script_recorded(cluster: lrms.LRMS,
                                                 slurm: dict[str, str]) -> None:
    """Neither squeue nor sacct knows the job (no accounting, past MinJobAge): the id its
    script wrote into the sandbox finds it.  A failing search never says "not found"."""
    job = submit(cluster, small(["true"]))
    wait(cluster, [job])
    spool = Path(cluster.backend.spool)
    forgetful = make_resource(slurm, spool, squeue_command="true", accounting=False)
    broken = make_resource(slurm, spool, squeue_command="true", sacct_command="/bin/false")
    try:
        fresh, never = forget([job])[0], Job(small(["true"]))
        assert forgetful.find_jobs([fresh, never]) == [True, False]
        assert programs(forgetful.transport) == ["true", "/bin/sh"]
        assert (fresh.native_id, fresh.sandbox) == (job.native_id, job.sandbox)
        fresh = forget([job])[0]
        assert broken.find_jobs([fresh]) == [True]  # its record answers despite sacct
        with pytest.raises(lrms.LRMSError, match=(
                rf"resource cluster: cannot tell whether Slurm accepted job\(s\) "
                rf"{never.jobid} .*: /bin/false .*failed on localhost")):
            broken.find_jobs([never])
        assert never.native_id is None
    finally:
        forgetful.close()
        broken.close()


# --- load -------------------------------------------------------------------------------


def test_resource_status_in_two_commands(cluster: lrms.LRMS) -> None:
    recording = cluster.transport
    assert isinstance(recording, Recording)
    held = submit(cluster, small(["true"], extra={"slurm": {"extra_args": ["--hold"]}}))
    cluster.get_resource_status()
    recording.commands.clear()
    status = cluster.get_resource_status()
    assert recording.scheduler_commands() == ["sinfo", "squeue"]
    assert status.total_slots == 2 and 0 <= status.free_slots <= 2
    assert status.details["partition"] == "debug"
    assert status.free_slots == status.details["cpus_idle"]
    assert status.user_queued >= 1 and status.queued >= status.user_queued
    assert status.running is not None and status.running >= status.user_run
    cluster.cancel_job(held)


def test_over_walltime(walltime_job: tuple[lrms.LRMS, Job]) -> None:
    """The module's walltime job (submitted at the start) ends TIMEOUT."""
    res, job = walltime_job
    wait(res, [job], timeout=150)
    assert (job.termination_reason, job.signal) == (Why.WALLTIME_EXCEEDED, 15)
    assert job.used_walltime is not None and 60 <= job.used_walltime.seconds < 120
