"""The sge backend through the public LRMS API, against the project's real Grid Engine cell.

The cell (tests/services/start-sge.sh) is a single host with queue ``all.q`` of
2 slots and the parallel environment ``smp``; jobs run as root.  Other sessions
may use the cell at the same time, so waits are generous and every test
cancels what it submitted.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import time

import pytest

import lrms
from lrms import Application, Job, State, TerminationReason
from lrms_sge.backend import job_name

pytestmark = pytest.mark.sge
WAIT = 90.0  # seconds: the 2 slots may be busy with other sessions' jobs
MIB = 1024**2


class Cell:
    """A resource on the cell that remembers its jobs and cancels the unfinished ones."""

    def __init__(self, spool, **options):
        self.res = lrms.LRMS("sgetest", ["x86_64", "aarch64"], 64, 64, "1GiB", "1h",
                             backend="sge", spool=str(spool), **options)
        self.jobs: list[Job] = []

    def submit(self, app: Application) -> Job:
        job = self.res.submit_job(app, Job(app))
        job.state = State.SUBMITTED
        self.jobs.append(job)
        return job

    def wait(self, jobs, until=(State.TERMINATED,), timeout=WAIT):
        deadline = time.monotonic() + timeout
        while any(s not in until for s in self.res.update_job_states(jobs)):
            assert time.monotonic() < deadline, f"not {until} after {timeout}s: {jobs}"
            time.sleep(0.5)
        return jobs

    def close(self):
        try:
            for job in self.jobs:
                if job.state != State.TERMINATED:
                    with contextlib.suppress(lrms.LRMSError):
                        self.res.cancel_job(job)
        finally:
            self.res.close()


@pytest.fixture
def cell(sge, tmp_path):
    cell = Cell(tmp_path / "spool")
    yield cell
    cell.close()


def qacct_field(cell, job, key):
    text = cell.res.transport.check(["qacct", "-j", job.native_id]).text
    return next(line.split(None, 1)[1].strip() for line in text.splitlines()
                if line.startswith(key + " "))


def read(cell, job, name):
    out = io.BytesIO()
    cell.res.peek(job, name, out)
    return out.getvalue()


def test_success_files_usage_and_cleanup(cell, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("hello input\n")
    app = Application(["sh", "-c", "cat in.txt; echo to-err >&2; cat in.txt > copy.txt; sleep 2"],
                      inputs=[str(data)], outputs=["copy.txt", "stderr"])
    job = cell.submit(app)
    (job,) = cell.wait([job])
    assert (job.exitcode, job.signal, job.termination_reason) == (0, None, TerminationReason.EXITED)
    assert job.used_walltime is not None and 2 <= job.used_walltime.seconds < 30
    assert job.used_cputime is not None and job.max_used_memory is not None
    assert read(cell, job, "stdout") == b"hello input\n"
    down = tmp_path / "down"
    down.mkdir()
    assert sorted(cell.res.get_results(job, down)) == [str(down / "copy.txt"),
                                                       str(down / "stderr")]
    assert (down / "stderr").read_text() == "to-err\n"
    # Grid Engine's own output file holds nothing of the program's.
    assert read(cell, job, ".lrms/scheduler.out") == b""
    assert cell.res.validate_data(["file:///x", "/y"]) is False
    assert cell.res.validate_data(["file:///x"]) is True
    cell.res.free(job)
    assert not cell.res.transport.exists(job.sandbox)


def test_exit_code_and_signal(cell):
    three = cell.submit(Application(["sh", "-c", "exit 3"]))
    killed = cell.submit(Application(["sh", "-c", "kill -TERM $$"]))
    cell.wait([three, killed])
    assert (three.exitcode, three.signal, three.returncode) == (3, None, 3)
    assert three.termination_reason == TerminationReason.EXITED
    # The program died of SIGTERM; its script passed 143 on to Grid Engine.
    assert (killed.exitcode, killed.signal, killed.returncode) == (None, 15, 143)
    assert killed.termination_reason == TerminationReason.SIGNALLED
    assert qacct_field(cell, killed, "exit_status").startswith("143")


def test_walltime_exceeded(cell):
    job = cell.submit(Application(["sleep", "60"], requested_walltime="3s"))
    cell.wait([job])
    assert job.termination_reason == TerminationReason.WALLTIME_EXCEEDED
    assert (job.exitcode, job.signal) == (None, 9)
    assert job.used_walltime.seconds >= 3
    assert qacct_field(cell, job, "failed").startswith("37")


def test_memory_over_h_vmem(cell):
    """h_vmem is a per-process address-space limit and a limit on the job's total.

    Two processes of 120 MiB each stay under the per-process limit (200 MiB)
    but together exceed the job's: the execd kills the job (failed 37).  One
    process asking for more than the limit only sees its allocation fail and
    exits by itself: Grid Engine records nothing more than that exit.
    """
    grab = "import time; a = bytearray(120 * 2**20); time.sleep(30)"
    two = cell.submit(Application(
        ["sh", "-c", f"python3 -c '{grab}' & python3 -c '{grab}' & wait"],
        requested_memory="200MiB"))
    one = cell.submit(Application(["python3", "-c", "bytearray(300 * 2**20)"],
                                  requested_memory="200MiB"))
    cell.wait([two, one])
    assert two.termination_reason == TerminationReason.MEMORY_EXCEEDED
    assert (two.signal, two.exitcode) == (9, None)
    assert two.max_used_memory.bytes >= 200 * MIB
    assert qacct_field(cell, two, "failed").startswith("37")
    assert (one.termination_reason, one.exitcode) == (TerminationReason.EXITED, 1)
    assert b"MemoryError" in read(cell, one, "stderr")


def test_cancel_pending_and_running(cell):
    later = (datetime.datetime.now() + datetime.timedelta(hours=1)).strftime("%Y%m%d%H%M")
    pending = cell.submit(Application(["true"], extra={"sge": {"extra_args": ["-a", later]}}))
    running = cell.submit(Application(["sleep", "60"]))
    cell.wait([pending], until=(State.SUBMITTED,))
    cell.wait([running], until=(State.RUNNING,))
    assert cell.res.update_job_state(pending) == State.SUBMITTED
    for job in (pending, running):
        cell.res.cancel_job(job)
        assert job.state == State.TERMINATING
    cell.wait([pending, running])
    # Deleted while pending: Grid Engine keeps no accounting record of it.
    assert pending.termination_reason == TerminationReason.CANCELLED
    assert "no accounting record" in pending.status_message
    assert running.termination_reason == TerminationReason.CANCELLED
    assert running.signal == 9 and running.used_walltime is not None
    assert qacct_field(cell, running, "failed").startswith("100")
    cell.res.cancel_job(running)  # already terminated: nothing to do


def test_held_job_is_stopped_until_released(cell):
    job = cell.submit(Application(["sh", "-c", "echo released"],
                                  extra={"sge": {"extra_args": ["-h"]}}))
    assert cell.res.update_job_state(job) == State.STOPPED
    assert job.status_message == "held"
    cell.res.transport.check(["qrls", job.native_id])
    cell.wait([job])
    assert job.exitcode == 0 and read(cell, job, "stdout") == b"released\n"
    assert State.STOPPED in [state for state, _ in job.history]


def test_suspended_job_is_stopped_until_resumed(cell):
    job = cell.submit(Application(["sleep", "60"]))
    cell.wait([job], until=(State.RUNNING,))
    cell.res.transport.check(["qmod", "-sj", job.native_id])
    cell.wait([job], until=(State.STOPPED,), timeout=10)
    assert job.status_message == "suspended"
    cell.res.transport.check(["qmod", "-usj", job.native_id])
    cell.wait([job], until=(State.RUNNING,), timeout=10)
    cell.res.cancel_job(job)
    cell.wait([job])
    assert job.termination_reason == TerminationReason.CANCELLED


def test_multicore_job_through_the_pe(cell, sge):
    """2 cores and 400 MiB: -pe smp 2 and h_vmem=200M per slot, i.e. 400 MiB for the job."""
    app = Application(["sh", "-c", 'echo "$NSLOTS $PE $(ulimit -v)"'], requested_cores=2,
                      requested_memory="400MiB", extra={"sge": {"pe": sge["LRMS_SGE_PE"]}})
    job = cell.submit(app)
    cell.wait([job], timeout=2 * WAIT)  # needs both slots free at once
    assert job.exitcode == 0
    assert read(cell, job, "stdout") == f"2 {sge['LRMS_SGE_PE']} {400 * 1024}\n".encode()
    assert qacct_field(cell, job, "granted_pe") == sge["LRMS_SGE_PE"]
    assert "h_vmem=200M" in qacct_field(cell, job, "category")


def test_request_no_queue_can_satisfy_is_refused(cell):
    app = Application(["true"], requested_cores=16)
    with pytest.raises(lrms.SubmissionRefused, match="no suitable queues") as refused:
        cell.res.submit_job(app, Job(app))
    assert "sgetest" in str(refused.value)
    app = Application(["true"], extra={"sge": {"queue": "nosuch.q"}})
    with pytest.raises(lrms.SubmissionRefused, match=r'unknown queue "nosuch\.q"'):
        cell.res.submit_job(app, Job(app))
    assert cell.res.transport.listdir(cell.res.backend.spool + "/jobs") == []


def test_error_state_is_stopped_with_its_reason(cell, tmp_path):
    missing = str(tmp_path / "no such dir")
    job = cell.submit(Application(["true"], extra={"sge": {"extra_args": ["-wd", missing]}}))
    cell.wait([job], until=(State.STOPPED,))
    assert job.status_message.startswith("Grid Engine error state Eqw: error: can't chdir to "
                                         f"{missing}: No such file or directory")
    time.sleep(1.5)
    assert cell.res.update_job_state(job) == State.STOPPED  # never SUBMITTED again
    cell.res.cancel_job(job)
    cell.wait([job])
    assert job.termination_reason == TerminationReason.SUBMISSION_FAILED
    assert job.status_message == "failed 28: changing into working directory"


def test_fifty_jobs_in_one_query(cell):
    hold = {"sge": {"extra_args": ["-h"]}}
    jobs = [cell.submit(Application(["true"], extra=hold)) for _ in range(50)]
    calls = []
    real_run = cell.res.transport.run

    def counting_run(argv, **kwargs):
        calls.append(argv)
        return real_run(argv, **kwargs)

    cell.res.transport.run = counting_run
    try:
        assert cell.res.update_job_states(jobs) == [State.STOPPED] * 50
        assert [argv[:2] for argv in calls] in ([["qstat", "-xml"]],
                                                [["id", "-un"], ["qstat", "-xml"]])
        for job in jobs:
            cell.res.cancel_job(job)
        calls.clear()
        assert cell.res.update_job_states(jobs) == [State.TERMINATED] * 50
        assert [argv[:2] for argv in calls] == [["qstat", "-xml"], ["/bin/sh", "-c"]]
    finally:
        del cell.res.transport.run
    assert {job.termination_reason for job in jobs} == {TerminationReason.CANCELLED}


HOSTILE = ["'q'", '"d"', "$(id)", "`id`", "; rm -rf ~", "a\nb", "\n#$ -N evil\n", "*", "?",
           "[a]", "--x", "-N", "", " ", "ünï ✓", "$HOME", "back\\slash", "%s", "a=b,c=d"]


def test_hostile_argv_reaches_the_program_byte_for_byte(cell, tmp_path):
    code = ("import sys, json, os; json.dump([sys.argv[1:], os.environ['LRMS_X']], "
            "open('argv.json', 'w'))")
    app = Application(["python3", "-c", code, *HOSTILE], outputs=["argv.json"],
                      environment={"LRMS_X": "$(id) `id` \n#$ -q x"}, jobname="1 ünï/x:y@z*?")
    job = cell.submit(app)
    cell.wait([job])
    assert job.exitcode == 0, read(cell, job, "stderr")
    cell.res.get_results(job, tmp_path)
    assert json.loads((tmp_path / "argv.json").read_text()) == [HOSTILE, "$(id) `id` \n#$ -q x"]
    assert qacct_field(cell, job, "jobname") == job_name(app.jobname) == "j1__n__x_y_z__"


def test_resource_status_counts_slots_and_jobs(cell, sge):
    later = (datetime.datetime.now() + datetime.timedelta(hours=1)).strftime("%Y%m%d%H%M")
    before = cell.res.get_resource_status()
    slots = int(sge["LRMS_SGE_SLOTS"])
    assert before.total_slots == slots and 0 <= before.free_slots <= slots
    job = cell.submit(Application(["true"], extra={"sge": {"extra_args": ["-a", later]}}))
    status = cell.res.get_resource_status()
    assert status.user_queued >= 1 and status.queued >= status.user_queued
    assert status.running is not None and status.running >= status.user_run
    assert cell.res.status is status
    cell.res.cancel_job(job)
    cell.wait([job])


def test_exit_file_when_accounting_is_unavailable(sge, tmp_path):
    """With qacct failing (qacct_command=/bin/false), the job script's exit file decides."""
    cell = Cell(tmp_path / "spool", qacct_command="/bin/false", accounting_wait="0s")
    try:
        three = cell.submit(Application(["sh", "-c", "exit 3"]))
        killed = cell.submit(Application(["sh", "-c", "kill -9 $$"]))
        cell.wait([three, killed])
    finally:
        cell.close()
    assert (three.exitcode, three.termination_reason) == (3, TerminationReason.EXITED)
    assert (killed.signal, killed.termination_reason) == (9, TerminationReason.SIGNALLED)
    assert three.used_walltime is None  # only accounting knows the usage


def test_accounting_lag_is_waited_for(sge, tmp_path):
    """A qacct that knows a finished job only from its third call on (as when the
    accounting file is flushed late): the update waits for the record and its usage."""
    lagging = tmp_path / "qacct"
    lagging.write_text(f"""#!/bin/sh
calls={tmp_path}/calls-$2
n=$(cat "$calls" 2>/dev/null || echo 0)
echo $((n + 1)) > "$calls"
[ "$n" -ge 2 ] && exec qacct "$@"
echo "error: job id $2 not found" >&2
exit 1
""")
    lagging.chmod(0o755)
    cell = Cell(tmp_path / "spool", qacct_command=str(lagging), accounting_wait="5s")
    try:
        job = cell.submit(Application(["sh", "-c", "exit 3"]))
        cell.wait([job])
    finally:
        cell.close()
    assert (job.exitcode, job.termination_reason) == (3, TerminationReason.EXITED)
    assert job.used_walltime is not None  # from the qacct record, not the exit file
    assert (tmp_path / f"calls-{job.native_id}").read_text() == "3\n"


# -- interrupted submissions (find_jobs) ------------------------------------------------------


def forget(jobs):
    """The jobs as a store has them when the submitter was killed before recording the id."""
    return [Job(job.app, jobid=job.jobid) for job in jobs]


def find_counting(res, jobs):
    """``res.find_jobs(jobs)`` and the argv of every command it ran."""
    calls = []
    real_run = res.transport.run

    def counting_run(argv, **kwargs):
        calls.append(list(argv))
        return real_run(argv, **kwargs)

    res.transport.run = counting_run
    try:
        return res.find_jobs(jobs), calls
    finally:
        del res.transport.run


def test_find_jobs_pending_and_finished(cell, tmp_path):
    """Pending jobs from qstat -j (by working directory, or by account string when -wd is
    the user's), a finished one from qacct (its record was awaited by the update)."""
    held = cell.submit(Application(["true"], extra={"sge": {"extra_args": ["-h"]}}))
    moved = cell.submit(Application(["true"], extra={
        "sge": {"extra_args": ["-h", "-wd", str(tmp_path)]}}))
    done = cell.submit(Application(["sh", "-c", "echo out > out.txt"], outputs=["out.txt"]))
    cell.wait([done])
    jobs = [held, moved, done]
    fresh, never = forget(jobs), Job(Application(["true"]))
    found, calls = find_counting(cell.res, [*fresh, never])
    assert found == [True, True, True, False]
    assert [argv[:2] for argv in calls] == [["qstat", "-xml"], ["qstat", "-j"],
                                            ["/bin/sh", "-c"], ["/bin/sh", "-c"]]
    assert calls[2][4:] == ["qacct", f"lrms_{done.jobid}", f"lrms_{never.jobid}"]
    assert calls[3][4:] == ["native_id", f"{cell.res.backend.spool}/jobs/{never.jobid}"]
    for old, new in zip(jobs, fresh, strict=True):
        assert (new.native_id, new.sandbox, new.resource) == (old.native_id, old.sandbox,
                                                               "sgetest")
    assert (never.native_id, never.sandbox) == (None, None)
    for job in fresh:
        job.state = State.SUBMITTED
    assert cell.res.update_job_states(fresh) == [State.STOPPED, State.STOPPED, State.TERMINATED]
    assert fresh[2].exitcode == 0 and fresh[2].used_walltime is not None
    cell.res.get_results(fresh[2], tmp_path)
    assert (tmp_path / "out.txt").read_text() == "out\n"
    cell.jobs += fresh[:2]  # cancelled through the recovered jobs
    assert qacct_field(cell, done, "account") == f"lrms_{done.jobid}"


def test_find_jobs_by_the_id_the_script_recorded(cell, sge, tmp_path):
    """With qacct failing, a finished job is found by the id its script wrote into the
    sandbox; a job found nowhere is then an error, never "not found"."""
    done = cell.submit(Application(["true"], extra={"sge": {"extra_args": ["-A", "mine"]}}))
    cell.wait([done])
    broken = lrms.LRMS("sgetest", ["x86_64"], 64, 64, "1GiB", "1h", backend="sge",
                       spool=cell.res.backend.spool, qacct_command="/bin/false")
    try:
        fresh, never = forget([done])[0], Job(Application(["true"]))
        assert broken.find_jobs([fresh]) == [True]
        assert (fresh.native_id, fresh.sandbox) == (done.native_id, done.sandbox)
        with pytest.raises(lrms.LRMSError, match=(
                rf"resource sgetest: cannot tell whether Grid Engine accepted job\(s\) "
                rf"{never.jobid} .*: /bin/false failed on localhost \(exit 1\)")):
            broken.find_jobs([never])
    finally:
        broken.close()


# -- job arrays (LRMS.submit_jobs) --------------------------------------------------------------


def submit_array(cell, apps, throttle=None):
    jobs = cell.res.submit_jobs(apps, [Job(app) for app in apps], throttle)
    for job in jobs:
        job.state = State.SUBMITTED
    cell.jobs += jobs
    return jobs


def test_array_tasks_are_jobs(cell, tmp_path):
    """One ``qsub -t 1-3 -tc 1``: each task has its own id, sandbox, outputs, exit code and
    usage (from its own qacct record), and sees its index as LRMS_TASK_INDEX."""
    apps = [Application(["sh", "-c", f'echo "$LRMS_TASK_INDEX" > out{n}.txt; echo {n}; exit {n}'],
                        outputs=[f"out{n}.txt"], jobname=f"task{n}") for n in range(3)]
    jobs = submit_array(cell, apps, throttle=1)
    array = jobs[0].backend_data["array"]
    assert array.isdigit()
    assert [job.native_id for job in jobs] == [f"{array}.1", f"{array}.2", f"{array}.3"]
    assert [job.backend_data["task_index"] for job in jobs] == [1, 2, 3]
    assert len({job.sandbox for job in jobs}) == 3
    qstat_j = cell.res.transport.check(["qstat", "-j", array]).text
    assert "job-array tasks:            1-3:1\n" in qstat_j
    assert "maximum concurrency:        1\n" in qstat_j
    cell.wait(jobs)
    assert [(job.exitcode, job.termination_reason) for job in jobs] == [
        (0, TerminationReason.EXITED), (1, TerminationReason.EXITED),
        (2, TerminationReason.EXITED)]
    assert all(job.used_walltime is not None and job.used_cputime is not None for job in jobs)
    for n, job in enumerate(jobs):
        assert read(cell, job, "stdout") == f"{n}\n".encode()
        down = tmp_path / f"down{n}"
        down.mkdir()
        assert cell.res.get_results(job, down) == [str(down / f"out{n}.txt")]
        assert (down / f"out{n}.txt").read_text() == f"{n + 1}\n"


def test_array_split_cancel_and_find(cell, sge):
    """101 tasks over max_aj_tasks (100 on the CI cell) make two arrays; one task is
    cancelled alone, the rest stay; an interrupted submission's tasks are found again."""
    size = int(sge["LRMS_SGE_MAX_ARRAY_SIZE"])
    assert cell.res.backend.max_array_size() == size
    apps = [Application(["echo", str(n)], hold=True) for n in range(size + 1)]
    jobs = submit_array(cell, apps)
    arrays = list(dict.fromkeys(job.backend_data["array"] for job in jobs))
    assert len(arrays) == 2
    assert jobs[size - 1].native_id == f"{arrays[0]}.{size}"
    assert jobs[size].native_id == f"{arrays[1]}.1"
    assert set(cell.res.update_job_states(jobs)) == {State.STOPPED}
    cell.res.cancel_job(jobs[1])
    assert cell.res.update_job_states(jobs[:3]) == [State.STOPPED, State.TERMINATED,
                                                    State.STOPPED]
    assert jobs[1].termination_reason == TerminationReason.CANCELLED
    fresh = forget([jobs[0], jobs[2], jobs[size]])
    assert cell.res.find_jobs(fresh) == [True, True, True]
    for old, new in zip([jobs[0], jobs[2], jobs[size]], fresh, strict=True):
        assert (new.native_id, new.sandbox) == (old.native_id, old.sandbox)
        assert new.backend_data["array"] == old.backend_data["array"]
    cell.res.transport.check(["qdel", *arrays])  # one qdel per array, not 100 per task
    cell.jobs = [job for job in cell.jobs if job.backend_data.get("array") not in arrays]


# -- submit arguments (dry_run: nothing is sent to the cell) ---------------------------------


def argv_of(res, app):
    return res.backend.dry_run(app, Job(app))[1].argv


def test_submit_arguments(tmp_path):
    res = lrms.LRMS("sgetest", ["x86_64"], 8, 8, "1GiB", "10h", backend="sge",
                    spool=str(tmp_path), queue="all.q", project="p1", extra_args=["-R", "y"])
    try:
        app = Application(["true"], requested_cores=3, requested_memory="1000MiB",
                          requested_walltime="2h30min", jobname="my job",
                          extra={"sge": {"pe": "mpi", "extra_args": ["-p", "-5"]}})
        job = Job(app)
        argv = res.backend.dry_run(app, job)[1].argv
        sandbox = argv[argv.index("-wd") + 1]
        assert argv == [
            "qsub", "-terse", "-N", "my_job", "-C", "", "-wd", sandbox,
            "-o", f"{sandbox}/.lrms/scheduler.out", "-j", "y", "-w", "e", "-S", "/bin/bash",
            "-pe", "mpi", "3", "-l", "h_rt=02:30:00", "-l", "h_vmem=334M", "-q", "all.q",
            "-P", "p1", "-A", f"lrms_{job.jobid}", "-R", "y", "-p", "-5",
            f"{sandbox}/.lrms/job.sh"]
        # The job id is the account string (for find_jobs), unless the user sets one.
        own = Application(["true"], extra={"sge": {"extra_args": ["-A", "physics"]}})
        own_argv = argv_of(res, own)
        assert own_argv[-3:-1] == ["-A", "physics"] and own_argv.count("-A") == 1
        odd = Job(app, jobid="x:y")  # Grid Engine refuses ':' in an account string
        assert "-A" not in res.backend.dry_run(app, odd)[1].argv
        # 1000 MiB over 3 slots: 334 MiB per slot, never less than asked in total.
        assert 3 * 334 >= 1000
        with pytest.raises(lrms.LRMSError, match="option bogus: unknown option"):
            argv_of(res, Application(["true"], extra={"sge": {"bogus": 1}}))
        with pytest.raises(lrms.SubmissionRefused, match="lrms makes the arrays itself"):
            argv_of(res, Application(["true"], extra={"sge": {"extra_args": ["-t", "1-3"]}}))
    finally:
        res.close()


def test_memory_complex_options(tmp_path):
    app = Application(["true"], requested_cores=2, requested_memory="3GiB")
    for options, expected in (({"memory_complex": "mem_free"}, ["mem_free=1536M"]),
                              ({"memory_per_slot": False}, ["h_vmem=3072M"]),
                              ({"memory_complex": ""}, [])):
        res = lrms.LRMS("sgetest", ["x86_64"], 8, 8, "2GiB", "1h", backend="sge",
                        spool=str(tmp_path), **options)
        argv = argv_of(res, app)
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "-l"] == expected
        res.close()
    res = lrms.LRMS("sgetest", ["x86_64"], 8, 8, "2GiB", "1h", backend="sge",
                    spool=str(tmp_path), pe="")
    with pytest.raises(lrms.SubmissionRefused, match="set the 'pe' option"):
        argv_of(res, app)
    res.close()


@pytest.mark.parametrize(("name", "legal"), [
    ("sleep", "sleep"), ("a b", "a_b"), ("1abc", "j1abc"), ("ünï", "_n_"),
    ("x/y:z@w\\*?", "x_y_z_w___"), ("-N", "j-N"), ("", "j"), ("a" * 100, "a" * 64),
    ("_ok.v-1", "_ok.v-1"),
])
def test_job_names(name, legal):
    assert job_name(name) == legal
