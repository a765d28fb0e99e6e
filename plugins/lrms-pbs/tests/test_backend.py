"""The pbs backend through the public LRMS API.

No PBS server can be installed here, so two things stand in, each for what it can
prove:

* torque flavour, end to end: Slurm's Torque compatibility wrappers (Debian
  slurm-wlm-torque 22.05: Perl qsub, qstat, qdel, pbsnodes) driving the real
  test Slurm cluster (fixture ``torque``).  They speak Torque's ``qstat -f``
  format but print no ``exit_status``, so exit codes come from the job script's
  exit-status file, as they do on any PBS whose server has forgotten a job.
* pbspro flavour: the submit command line and job script (``dry_run``), checked
  as argv and text; no server is involved.  What a PBS Pro server answers is
  covered by the parser tests on recorded outputs (test_parse.py), and the state
  path once more with ``qstat_command`` replaying recorded PBS Pro outputs.
  Likewise ``tracejob_command`` replays a recorded Torque tracejob (the wrappers
  have no tracejob) to check the order of the finished-job sources.

The Slurm cluster has 2 CPUs and is shared with other tests: jobs ask for one
core, deadlines are generous, and every test cancels what it submitted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import time
from pathlib import Path

import pytest

import lrms
from lrms import Application, Job, State, TerminationReason
from lrms_pbs.parse import parse_qstat_json, short_id

R = TerminationReason
DEADLINE = 90.0
DATA = Path(__file__).parent / "data"


def wrappers(bin_dir: str) -> dict[str, str]:
    return {f"{name}_command": f"{bin_dir}/{name}" for name in ("qsub", "qstat", "qdel",
                                                                "pbsnodes")}


@pytest.fixture
def resource(torque, tmp_path):
    res = lrms.LRMS("wrappers", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    flavour="torque", spool=str(tmp_path / "spool"), **wrappers(torque))
    yield res
    res.close()


@pytest.fixture
def submitted(resource):
    """submit(app) -> job; every job submitted this way is cancelled at teardown."""
    jobs: list[Job] = []

    def submit(app: Application) -> Job:
        job = resource.submit_job(app, Job(app))
        job.state = State.SUBMITTED
        jobs.append(job)
        return job

    yield submit
    for job in jobs:
        if job.state != State.TERMINATED:
            resource.cancel_job(job)


def wait(res, jobs, until=(State.TERMINATED,), timeout=DEADLINE):
    """Poll until every job is in ``until``.  A failed qstat is retried: other tests
    restart the shared Slurm controller for a second or two."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(lrms.CommandFailed):
            res.update_job_states(jobs)
            if all(job.state in until for job in jobs):
                return jobs
        assert time.monotonic() < deadline, f"{jobs} not {until} after {timeout} s"
        time.sleep(0.5)


def short(app_args, **kwargs) -> Application:
    return Application(app_args, requested_walltime="5min", requested_memory="100MiB", **kwargs)


# ---------------------------------------------------------------------------
# torque flavour, end to end on Slurm's Torque wrappers
# ---------------------------------------------------------------------------

def test_exit_three_peek_results_and_free(resource, submitted, tmp_path):
    app = short(["sh", "-c", "printf 'out line\\n'; printf 'err\\n' >&2; "
                 "mkdir -p sub; echo data > sub/result.txt; exit 3"],
                outputs=["sub", "stdout"])
    job = submitted(app)
    assert job.native_id and job.native_id.isdigit()    # the wrapper prints a bare number
    wait(resource, [job])
    assert (job.exitcode, job.signal, job.returncode) == (3, None, 3)
    assert job.termination_reason == R.EXITED
    states = [state for state, _ in job.history]
    assert states[:2] == [State.NEW, State.SUBMITTED] and states[-1] == State.TERMINATED

    out = io.BytesIO()
    assert resource.peek(job, "stdout", out) == len(b"out line\n")
    assert out.getvalue() == b"out line\n"
    resource.peek(job, "stderr", str(tmp_path / "err"), offset=-4)
    assert (tmp_path / "err").read_bytes() == b"err\n"

    download = tmp_path / "download"
    download.mkdir()
    written = resource.get_results(job, download)
    assert sorted(Path(p).relative_to(download).as_posix() for p in written) == [
        "stdout", "sub/result.txt"]
    assert (download / "sub" / "result.txt").read_text() == "data\n"

    sandbox = job.sandbox
    assert sandbox and os.path.isdir(sandbox)
    resource.free(job)
    assert not os.path.exists(sandbox)


HOSTILE = ["", " ", "two words", "'", '"', "$HOME", "`id`", "$(id)", ";", "|", "&&", "\\",
           "a\nb", "\t", "*", "~", "é€", "--", "-l", "nodes=2,walltime=1", "%s%n", "#PBS -q x"]


def test_hostile_argv_environment_and_name_arrive_intact(resource, submitted, tmp_path):
    trap = tmp_path / "pwned"
    code = ("import json, os, sys; "
            "json.dump([sys.argv[1:], os.environ['HOSTILE']], open('argv.json', 'w'))")
    app = short(["python3", "-c", code, *HOSTILE],
                environment={"HOSTILE": "$(touch " + str(trap) + ") '\"\n"},
                jobname=f"x;touch {trap};$(touch {trap})`touch {trap}`")
    argv = resource.backend.dry_run(app, Job(app))[1].argv
    assert re.fullmatch(r"x_touch_[A-Za-z0-9_.+-]{7}", argv[argv.index("-N") + 1])
    job = submitted(app)
    wait(resource, [job])
    assert job.exitcode == 0, job.status_message
    out = io.BytesIO()
    resource.peek(job, "argv.json", out)
    assert json.loads(out.getvalue()) == [HOSTILE, "$(touch " + str(trap) + ") '\"\n"]
    assert not trap.exists()


def test_killed_by_signal_from_exit_file(resource, submitted):
    job = submitted(short(["sh", "-c", "kill -9 $$"]))
    wait(resource, [job])
    assert (job.exitcode, job.signal, job.returncode) == (None, 9, 137)
    assert job.termination_reason == R.SIGNALLED


def test_cancel_running_and_queued(resource, submitted):
    running = submitted(short(["sleep", "300"]))
    wait(resource, [running], until=(State.RUNNING, State.TERMINATED))
    assert running.state == State.RUNNING
    held = submitted(short(["sleep", "300"], extra={"pbs": {"extra_args": ["-h"]}}))
    assert resource.update_job_state(held) == State.SUBMITTED     # held by Slurm: pending
    for job in (running, held):
        resource.cancel_job(job)
        assert job.state == State.TERMINATING
    wait(resource, [running, held])
    for job in (running, held):
        assert job.termination_reason == R.CANCELLED, job.status_message
        assert job.exitcode is None
    resource.cancel_job(running)          # already terminated: nothing to do


def test_cancel_after_the_job_ended(resource, submitted):
    """qdel of a job that has just ended is not an error (qdel exits 1, says nothing)."""
    job = submitted(short(["true"]))
    deadline = time.monotonic() + DEADLINE
    while not os.path.exists(os.path.join(job.sandbox, ".lrms", "exit")):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    time.sleep(2)
    resource.cancel_job(job)
    wait(resource, [job])
    assert job.exitcode == 0 and job.termination_reason == R.EXITED


def test_many_jobs_one_update(resource, submitted):
    jobs = [submitted(short(["sh", "-c", f"exit {code}"])) for code in range(4)]
    wait(resource, jobs)
    assert [job.exitcode for job in jobs] == [0, 1, 2, 3]
    assert len({job.native_id for job in jobs}) == 4


def test_array_on_the_wrappers(torque, slurm, tmp_path):
    """``qsub -t 0-2%2`` (the wrappers pass it to sbatch --array): each subjob has its own
    id, sandbox, stdout and exit code, and sees its index as LRMS_TASK_INDEX.  The wrappers'
    qstat knows a subjob only by Slurm's own job id, never as ``1234[5]``, so states come
    from the job scripts' exit files; an interrupted submission's subjobs are found by the
    ids their scripts recorded."""
    size = int(slurm["LRMS_SLURM_MAX_ARRAY_SIZE"])
    res = lrms.LRMS("wrappers", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    flavour="torque", spool=str(tmp_path / "spool"), tracejob_days=0,
                    max_array_size=size, **wrappers(torque))
    apps = [short(["sh", "-c", f'echo "$LRMS_TASK_INDEX"; exit {n + 3}']) for n in range(3)]
    try:
        jobs = res.submit_jobs(apps, [Job(app) for app in apps], throttle=2)
        array = jobs[0].backend_data["array"]
        assert array.isdigit() and res.backend.max_array_size() == size
        assert [job.native_id for job in jobs] == [f"{array}[{n}]" for n in range(3)]
        scontrol = res.transport.check(["scontrol", "show", "job", array]).text
        assert "ArrayTaskThrottle=2" in scontrol
        for job in jobs:
            job.state = State.SUBMITTED
        wait(res, jobs)
        assert [(job.exitcode, job.termination_reason) for job in jobs] == [
            (3, R.EXITED), (4, R.EXITED), (5, R.EXITED)]
        for n, job in enumerate(jobs):
            out = io.BytesIO()
            res.peek(job, "stdout", out)
            assert out.getvalue() == f"{n}\n".encode()
        fresh = forget(jobs)
        assert res.find_jobs(fresh) == [True, True, True]
        assert [job.native_id for job in fresh] == [job.native_id for job in jobs]
    finally:
        res.close()


def test_job_the_server_does_not_know_is_unknown(resource, tmp_path):
    app = Application(["true"])
    job = Job(app)
    job.resource, job.native_id, job.sandbox = resource.name, "999999999", str(tmp_path)
    job.state = State.SUBMITTED
    assert resource.update_job_state(job) == State.UNKNOWN
    assert "no longer knows job 999999999" in (job.status_message or "")


def test_refused_submission_keeps_the_scheduler_message(resource, tmp_path):
    app = short(["true"], extra={"pbs": {"queue": "no-such-queue"}})
    with pytest.raises(lrms.SubmissionRefused, match=r"(?i)invalid partition"):
        resource.submit_job(app, Job(app))
    assert os.listdir(tmp_path / "spool" / "jobs") == []


def test_resource_status(resource, submitted, slurm):
    job = submitted(short(["sleep", "60"]))
    wait(resource, [job], until=(State.RUNNING, State.TERMINATED))
    status = resource.get_resource_status()
    assert status.total_slots == os.cpu_count()    # the one node, all its CPUs
    assert 0 <= status.free_slots <= status.total_slots
    assert status.user_run >= 1                   # this job (jobs run as this user)
    assert status.running is not None and status.running >= 1
    assert status.queued >= 0 and status.user_queued >= 0
    assert status.details == {"flavour": "torque", "nodes": 1, "usable_nodes": 1,
                              "gpus": int(slurm["LRMS_SLURM_GPUS"])}   # pbsnodes: gpus = 2


def test_tracejob_comes_before_the_exit_file(resource, submitted, torque, tmp_path):
    """Order for a finished job qstat cannot explain: tracejob, then the exit file.

    The wrappers have no tracejob, so ``tracejob_command`` replays the recorded
    Torque tracejob output (tests/data/torque/tracejob-completed.txt: Exit_status=0,
    walltime 00:02:05) under this job's id; the job itself exits 5.
    """
    replay = tmp_path / "tracejob"
    fixture = DATA / "torque" / "tracejob-completed.txt"
    replay.write_text(f'#!/bin/sh\nsed "s/^Job: 123$/Job: $3/" {shlex.quote(str(fixture))}\n')
    replay.chmod(0o755)
    traced = lrms.LRMS("traced", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                       flavour="torque", spool=str(tmp_path / "spool"),
                       tracejob_command=str(replay), **wrappers(torque))
    app = short(["sh", "-c", "exit 5"])
    job = traced.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    try:
        wait(traced, [job])
    finally:
        traced.cancel_job(job)
        traced.close()
    assert (job.exitcode, job.termination_reason) == (0, R.EXITED)
    assert job.used_walltime == lrms.Duration("00:02:05")


def replay_qstat(tmp_path, json_case: str | Path) -> tuple[Path, Path]:
    """A ``qstat_command`` replaying recorded PBS Pro outputs, logging its arguments.

    Without ``-F json`` it prints the EPFL cluster's `qstat -f`
    (tests/data/pbspro/qstat-f-multi-QRH.txt).  With it, ``json_case`` is a file to
    print (relative to tests/data, or absolute), or ``refuse``: PBS Pro 14.2's recorded
    usage message on stderr and exit 2, as a qstat without ``-F`` answers
    (qstat-usage-14.2.txt).
    """
    log, qstat = tmp_path / "calls", tmp_path / "qstat"
    refuse = f"cat {shlex.quote(str(DATA))}/pbspro/qstat-usage-14.2.txt >&2; exit 2"
    text = shlex.quote(str(DATA / "pbspro" / "qstat-f-multi-QRH.txt"))
    qstat.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {shlex.quote(str(log))}\n'
        'case " $* " in *" -F json "*) '
        + (refuse if json_case == "refuse" else f"f={shlex.quote(str(DATA / json_case))}")
        + f" ;;\n  *) f={text} ;; esac\n"
        'cat "$f"\n')
    qstat.chmod(0o755)
    return qstat, log


def pbspro_jobs(res, tmp_path, *natives: str) -> list[Job]:
    jobs = []
    for native in natives:
        job = Job(Application(["true"]))
        job.resource, job.native_id, job.sandbox = res.name, native, str(tmp_path)
        job.state = State.SUBMITTED
        jobs.append(job)
    return jobs


AURORA = ".aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"


def test_pbspro_json_by_default(tmp_path):
    """pbspro state path on recorded PBS Pro answers (no server can run here): a server
    whose qstat gives ``-F json`` (ALCF Aurora's recorded `qstat -x -f -F json`,
    tests/data/pbspro/qstat-xf-json-held-queued-deleted.json) is asked for JSON by
    default, one command per query."""
    qstat, log = replay_qstat(tmp_path, "pbspro/qstat-xf-json-held-queued-deleted.json")
    res = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    qstat_command=str(qstat), tracejob_days=0, spool=str(tmp_path / "spool"))
    jobs = pbspro_jobs(res, tmp_path, "4846771" + AURORA, "4905429" + AURORA)
    try:
        assert res.update_job_states(jobs) == [State.TERMINATED, State.STOPPED]
        assert res.update_job_states(jobs[1:]) == [State.STOPPED]
    finally:
        res.close()
    deleted, held = jobs
    assert deleted.termination_reason == R.CANCELLED and deleted.exitcode is None
    assert held.status_message == "held (user hold); Job held by mmin on Wed May 21 19:15:19 2025"
    assert log.read_text().splitlines() == [
        f"-x -f -F json 4846771{AURORA} 4905429{AURORA}", f"-x -f -F json 4905429{AURORA}"]


def test_pbspro_json_that_leaves_out_listed_jobs_is_dropped(tmp_path):
    """Recorded outputs as above: a job the JSON leaves out is asked again as text, in
    one more call (the EPFL cluster's `qstat -f`, qstat-f-multi-QRH.txt).  As the text
    lists it, this server's JSON is incomplete (as OpenPBS's is for several ids,
    openpbs/openpbs#2672) and later queries are text only."""
    qstat, log = replay_qstat(tmp_path, "pbspro/qstat-xf-json-held-queued-deleted.json")
    res = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    qstat_command=str(qstat), tracejob_days=0, spool=str(tmp_path / "spool"))
    jobs = pbspro_jobs(res, tmp_path, "4905429" + AURORA, "69301.mycluster")
    try:
        assert res.update_job_states(jobs) == [State.STOPPED, State.RUNNING]
        assert res.update_job_states(jobs[1:]) == [State.RUNNING]
    finally:
        res.close()
    assert jobs[1].status_message is None
    assert log.read_text().splitlines() == [
        f"-x -f -F json 4905429{AURORA} 69301.mycluster", "-x -f 69301.mycluster",
        "-x -f 69301.mycluster"]


def test_pbspro_json_that_does_not_parse_is_answered_from_text(tmp_path):
    """JSON that does not parse is answered from text for that query, and JSON is tried
    again on the next.  The JSON is Aurora's recorded output with one Variable_List
    entry ``"foo":005`` put in (synthetic; the form OpenPBS prints for a digit string,
    openpbs/openpbs#1255); the text is the EPFL cluster's recorded `qstat -f`."""
    recorded = (DATA / "pbspro" / "qstat-xf-json-held-queued-deleted.json").read_text()
    broken = tmp_path / "broken.json"
    broken.write_text(recorded.replace('"Variable_List":{', '"Variable_List":{"foo":005,', 1))
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_qstat_json(broken.read_text())
    qstat, log = replay_qstat(tmp_path, broken)
    res = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    qstat_command=str(qstat), tracejob_days=0, spool=str(tmp_path / "spool"))
    jobs = pbspro_jobs(res, tmp_path, "69301.mycluster")
    try:
        assert res.update_job_states(jobs) == [State.RUNNING]
        assert res.update_job_states(jobs) == [State.RUNNING]
    finally:
        res.close()
    assert log.read_text().splitlines() == [
        "-x -f -F json 69301.mycluster", "-x -f 69301.mycluster"] * 2


def test_pbspro_server_without_json_is_asked_once(tmp_path):
    """A PBS Pro server whose qstat has no ``-F`` (recorded PBS Pro 14.2 usage message,
    tests/data/pbspro/qstat-usage-14.2.txt) is asked for JSON on the first query only;
    that query and every later one are answered from text."""
    qstat, log = replay_qstat(tmp_path, "refuse")
    res = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    qstat_command=str(qstat), tracejob_days=0, spool=str(tmp_path / "spool"))
    jobs = pbspro_jobs(res, tmp_path, "69301.mycluster", "69302.mycluster")
    try:
        assert res.update_job_states(jobs) == [State.RUNNING, State.SUBMITTED]
        assert res.update_job_states(jobs) == [State.RUNNING, State.SUBMITTED]
        assert res.find_jobs([Job(Application(["true"]))]) == [False]
    finally:
        res.close()
    assert log.read_text().splitlines() == [
        "-x -f -F json 69301.mycluster 69302.mycluster",
        "-x -f 69301.mycluster 69302.mycluster",
        "-x -f 69301.mycluster 69302.mycluster",
        "-x -f"]


def test_pbspro_json_forced_or_off(tmp_path):
    """``qstat_json: true`` on a server that refuses ``-F json`` is one clear error
    naming the option; ``false`` never asks for JSON (recorded outputs as above)."""
    qstat, log = replay_qstat(tmp_path, "refuse")
    forced = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                       qstat_json=True, qstat_command=str(qstat), tracejob_days=0,
                       spool=str(tmp_path / "spool"))
    off = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                    qstat_json="false", qstat_command=str(qstat), tracejob_days=0,
                    spool=str(tmp_path / "spool"))
    try:
        with pytest.raises(lrms.CommandFailed, match=r"exit 2\): qstat refuses -F json "
                           r"\(option qstat_json is true; set it to auto or false\): "
                           r"qstat: conflicting options\.\nusage:"):
            forced.update_job_states(pbspro_jobs(forced, tmp_path, "69301.mycluster"))
        assert off.update_job_states(pbspro_jobs(off, tmp_path, "69301.mycluster")) == [
            State.RUNNING]
    finally:
        forced.close()
        off.close()
    assert log.read_text().splitlines() == [
        "-x -f -F json 69301.mycluster", "-x -f 69301.mycluster"]


# ---------------------------------------------------------------------------
# Interrupted submissions (find_jobs)
# ---------------------------------------------------------------------------

def forget(jobs):
    """The jobs as a store has them when the submitter was killed before recording the id."""
    return [Job(job.app, jobid=job.jobid) for job in jobs]


def test_find_jobs_on_the_torque_wrappers(resource, submitted, tmp_path):
    """The wrappers' qstat -f prints no Output_Path (real Torque does): jobs that have
    started are found by the id their script recorded in the sandbox.  One qstat and one
    shell for all jobs."""
    running = submitted(short(["sleep", "60"]))
    done = submitted(short(["sh", "-c", "echo out > out.txt"], outputs=["out.txt"]))
    wait(resource, [running], until=(State.RUNNING, State.TERMINATED))
    wait(resource, [done])
    # Slurm says RUNNING a moment before the script has written its record: these jobs are
    # found once it has (a job between the two is the documented gap of the wrappers).
    record = Path(running.sandbox or "", ".lrms", "native_id")
    deadline = time.monotonic() + 30
    while not record.exists():
        assert time.monotonic() < deadline, "the running job never recorded its id"
        time.sleep(0.05)
    fresh, never = forget([running, done]), Job(short(["true"]))
    calls = []
    real_run = resource.transport.run

    def counting_run(argv, **kwargs):
        calls.append(list(argv))
        return real_run(argv, **kwargs)

    resource.transport.run = counting_run
    try:
        assert resource.find_jobs([*fresh, never]) == [True, True, False]
    finally:
        del resource.transport.run
    assert [argv[:2] for argv in calls] == [[resource.backend.command("qstat"), "-f"],
                                            ["/bin/sh", "-c"]]
    for old, new in zip([running, done], fresh, strict=True):
        assert (new.native_id, new.sandbox, new.resource) == (old.native_id, old.sandbox,
                                                               "wrappers")
    assert (never.native_id, never.sandbox) == (None, None)
    recovered_running, recovered_done = fresh
    recovered_done.state = State.SUBMITTED
    assert resource.update_job_state(recovered_done) == State.TERMINATED
    assert recovered_done.exitcode == 0
    assert resource.get_results(recovered_done, tmp_path) == [str(tmp_path / "out.txt")]
    recovered_running.state = State.SUBMITTED
    resource.cancel_job(recovered_running)
    wait(resource, [recovered_running])
    assert recovered_running.termination_reason == R.CANCELLED


def with_output_path(text: str, job_id: str, path: str) -> str:
    """Recorded ``qstat -f`` text with job ``job_id``'s Output_Path replaced by ``path``,
    wrapped as in the recording (79 columns, continuation lines indented 8 spaces)."""
    lines, out, in_job, skipping = text.splitlines(), [], False, False
    for line in lines:
        if line.startswith("Job Id:"):
            in_job = line.split(":", 1)[1].strip() == job_id
        if skipping and line.startswith("        "):
            continue
        skipping = False
        if in_job and line.startswith("    Output_Path = "):
            value = "    Output_Path = " + path
            out.append(value[:79])
            out += ["        " + value[i:i + 71] for i in range(79, len(value), 71)]
            skipping = True
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def test_find_jobs_pbspro_on_recorded_outputs(tmp_path):
    """pbspro on recorded PBS Pro answers (no server can run here): ``qstat_command``
    replays NCI Gadi's recorded `qstat -f` (tests/data/pbspro/
    qstat-f-gadi-space-continuation.txt) and ALCF Aurora's recorded `qstat -x -f -F json`
    (qstat-xf-json-held-queued-deleted.json), each with the Output_Path of queued jobs
    replaced by the sandbox of a job lrms submitted.  The rest of each file is as
    recorded; one qstat call answers for all jobs."""
    spool = tmp_path / "spool"
    jobs = [Job(Application(["true"])) for _ in range(4)]
    out = [f"{spool}/jobs/{job.jobid}/.lrms/pbs.out" for job in jobs]
    gadi = (DATA / "pbspro" / "qstat-f-gadi-space-continuation.txt").read_text()
    gadi = with_output_path(gadi, "80005197.gadi-pbs", f"gadi.nci.org.au:{out[0]}")
    gadi = with_output_path(gadi, "80005198.gadi-pbs", f"gadi.nci.org.au:{out[1]}")
    (tmp_path / "qstat-f.txt").write_text(gadi)
    aurora = (DATA / "pbspro" / "qstat-xf-json-held-queued-deleted.json").read_text()
    host = "aurora-uan-0011.hostmgmt1000.cm.aurora.alcf.anl.gov"
    recorded = f'"Output_Path":"{host}:/home/ychang4/STDIN.o4683812"'
    assert recorded in aurora
    (tmp_path / "qstat-json.txt").write_text(
        aurora.replace(recorded, f'"Output_Path":"{host}:{out[2]}"'))
    log = tmp_path / "calls"
    qstat = tmp_path / "qstat"
    qstat.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {shlex.quote(str(log))}\n'
        'case " $* " in *" -F json "*) f=qstat-json.txt ;; *) f=qstat-f.txt ;; esac\n'
        f'cat {shlex.quote(str(tmp_path))}/"$f"\n')
    qstat.chmod(0o755)
    for as_json, expected in ((False, [True, True, False, False]),
                              (True, [False, False, True, False])):
        res = lrms.LRMS("replay", ["x86_64"], 2, 1, "1GiB", "1h", backend="pbs",
                        qstat_json=as_json, qstat_command=str(qstat), spool=str(spool))
        fresh = forget(jobs)
        log.write_text("")
        try:
            assert res.find_jobs(fresh) == expected
        finally:
            res.close()
        assert log.read_text().splitlines() == ["-x -f -F json" if as_json else "-x -f"]
        assert [job.native_id for job in fresh] == (
            [None, None, "4683812.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov", None]
            if as_json else ["80005197.gadi-pbs", "80005198.gadi-pbs", None, None])
        assert [job.sandbox for job in fresh] == [
            f"{spool}/jobs/{job.jobid}" if hit else None for job, hit in zip(
                jobs, expected, strict=True)]


def test_pbspro_array_commands(tmp_path):
    """pbspro arrays without a server: ``qsub_command`` answers with the array id of the
    Artemis lesson's array (tests/data/pbspro/qstat-t-array-artemis.txt: ``2597100[]``,
    server ``pbsserver``) and logs its arguments, ``qstat_command`` logs what it is asked.
    The array is ``qsub -J 0-2%2``; subjob ids are ``2597100[N].pbsserver``; one ``qstat
    -t`` of the array answers for its subjobs; ``max_array_size`` comes from ``qmgr``."""
    log = tmp_path / "calls"

    def logging(name: str, answer: str) -> str:
        path = tmp_path / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {shlex.quote(str(log))}\n'
                        f"printf '%s\\n' {shlex.quote(answer)}\n")
        path.chmod(0o755)
        return str(path)

    res = lrms.LRMS("replay", ["x86_64"], 8, 1, "1GiB", "1h", backend="pbs",
                    spool=str(tmp_path / "spool"), tracejob_days=0,
                    qsub_command=logging("qsub", "2597100[].pbsserver"),
                    qstat_command=logging("qstat", ""),
                    qmgr_command=logging("qmgr", "set server max_array_size = 2000"))
    apps = [Application(["echo", str(n)], requested_walltime="1h") for n in range(3)]
    try:
        jobs = res.submit_jobs(apps, [Job(app) for app in apps], throttle=2)
        assert [job.native_id for job in jobs] == [f"2597100[{n}].pbsserver" for n in range(3)]
        assert {job.backend_data["array"] for job in jobs} == {"2597100[].pbsserver"}
        for job in jobs:
            job.state = State.SUBMITTED
        res.update_job_states(jobs)
        assert res.backend.max_array_size() == 2000
    finally:
        res.close()
    array_dir = f"{tmp_path}/spool/arrays/{jobs[0].jobid}"
    assert log.read_text().splitlines() == [
        "qmgr -c print server",
        f"qsub -N echo -S /bin/bash -j oe -o {array_dir}/pbs.out -J 0-2%2 -l select=1:ncpus=1 "
        f"-l walltime=01:00:00 {array_dir}/job.sh",
        "qstat -x -f -t -F json 2597100[].pbsserver",
        "qstat -x -f -t 2597100[].pbsserver"]
    dispatcher = Path(array_dir, "job.sh").read_text()
    assert "${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-$SLURM_ARRAY_TASK_ID}}" in dispatcher
    # The Artemis lesson's `qstat -t 2597100[]` lists subjobs by these ids (cut to 17
    # columns, as qstat prints them): they match the ids lrms gives its tasks.
    listed = [line.split()[0] for line in (DATA / "pbspro" / "qstat-t-array-artemis.txt")
              .read_text().splitlines() if line[:1].isdigit()]
    assert [short_id(native) for native in listed[1:]] == [
        short_id(res.backend.task_id("2597100[].pbsserver", n)) for n in range(1, 11)]
    tasks = Path(array_dir, "tasks").read_text().splitlines()
    assert tasks == [job.sandbox for job in jobs]
    assert 'echo "${PBS_JOBID:-${SLURM_ARRAY_JOB_ID}[${SLURM_ARRAY_TASK_ID}]}" > ' in (
        Path(jobs[1].sandbox, ".lrms", "job.sh").read_text())


def test_find_jobs_pbspro_array_on_recorded_outputs(tmp_path):
    """An interrupted pbspro array is found by its Output_Path in the array's directory:
    NCI Gadi's recorded `qstat -f` (tests/data/pbspro/qstat-f-gadi-space-continuation.txt)
    with job 80005197.gadi-pbs's Output_Path replaced by that of an array lrms submitted
    (``qsub_command`` answering with that id); its tasks get their subjob ids."""
    spool = tmp_path / "spool"
    qsub = tmp_path / "qsub"
    qsub.write_text("#!/bin/sh\necho 80005197.gadi-pbs\n")
    qsub.chmod(0o755)
    res = lrms.LRMS("replay", ["x86_64"], 8, 1, "1GiB", "1h", backend="pbs",
                    qstat_json=False, qsub_command=str(qsub), max_array_size=100,
                    qstat_command=str(tmp_path / "qstat"), spool=str(spool))
    apps = [Application(["echo", str(n)]) for n in range(2)]
    try:
        jobs = res.submit_jobs(apps, [Job(app) for app in apps])
        gadi = (DATA / "pbspro" / "qstat-f-gadi-space-continuation.txt").read_text()
        (tmp_path / "qstat-f.txt").write_text(with_output_path(
            gadi, "80005197.gadi-pbs",
            f"gadi.nci.org.au:{spool}/arrays/{jobs[0].jobid}/pbs.out"))
        (tmp_path / "qstat").write_text(f"#!/bin/sh\ncat {shlex.quote(str(tmp_path))}"
                                        "/qstat-f.txt\n")
        (tmp_path / "qstat").chmod(0o755)
        fresh = forget(jobs)
        assert res.find_jobs(fresh) == [True, True]
    finally:
        res.close()
    assert [job.native_id for job in fresh] == ["80005197[0].gadi-pbs", "80005197[1].gadi-pbs"]
    assert [job.sandbox for job in fresh] == [job.sandbox for job in jobs]
    assert [job.backend_data["task_index"] for job in fresh] == [0, 1]


# ---------------------------------------------------------------------------
# Submit command lines (dry run, no server): pbspro and torque
# ---------------------------------------------------------------------------

def dry(tmp_path, app, **options):
    res = lrms.LRMS("dry", ["x86_64"], 64, 16, "4GiB", "2 days", backend="pbs",
                    spool=str(tmp_path / "spool"), **options)
    try:
        job = Job(app)
        script, submission = res.backend.dry_run(app, job)
        argv = submission.argv
        return script, argv, f"{tmp_path}/spool/jobs/{job.jobid}"
    finally:
        res.close()


def test_pbspro_directives(tmp_path):
    app = Application(["prog", "--in", "a b"], jobname="my.job name", requested_cores=4,
                      requested_memory="3GiB", requested_walltime="1h30min")
    script, argv, sandbox = dry(tmp_path, app, queue="workq", account="acct1", project="p1",
                                extra_args=["-W", "umask=077"])
    assert argv == [
        "qsub", "-N", "my_job_name", "-S", "/bin/bash", "-j", "oe",
        "-o", f"{sandbox}/.lrms/pbs.out", "-q", "workq", "-A", "acct1", "-P", "p1",
        "-l", "select=1:ncpus=4:mem=3072mb", "-l", "walltime=01:30:00",
        "-W", "umask=077", f"{sandbox}/.lrms/job.sh"]
    assert f"cd {sandbox} || exit 1" in script
    assert "prog --in 'a b' < /dev/null > stdout 2> stderr" in script


def test_pbspro_minimal_request_and_command_override(tmp_path):
    _, argv, _ = dry(tmp_path, Application(["true"]), qsub_command="/opt/pbs/bin/qsub")
    assert argv[0] == "/opt/pbs/bin/qsub"
    assert argv[-3:-1] == ["-l", "select=1:ncpus=1"]
    assert "-q" not in argv and "-A" not in argv and "-P" not in argv


def test_pbspro_job_names(tmp_path):
    """PBS Pro refuses `.` and a non-letter first character; Torque takes the `.`."""
    app = Application(["true"], jobname="9.lives")
    assert dry(tmp_path, app)[1][2] == "j9_lives"
    assert dry(tmp_path, app, flavour="torque")[1][2] == "j9.lives"


def test_torque_directives_in_one_resource_list(tmp_path):
    app = Application(["true"], requested_cores=2, requested_memory="1GiB",
                      requested_walltime="2-00:00:00")
    _, argv, _ = dry(tmp_path, app, flavour="torque", account="a")
    assert argv[argv.index("-l"):argv.index("-l") + 2] == [
        "-l", "nodes=1:ppn=2,mem=1024mb,walltime=48:00:00"]
    assert argv.count("-l") == 1 and argv[argv.index("-A") + 1] == "a"


def test_user_values_stay_single_arguments(tmp_path):
    app = Application(["true"], extra={"pbs": {"queue": "q;rm -rf ~", "account": "$(id)",
                                               "extra_args": ["-v", "A='x y',B=$z"]}})
    _, argv, _ = dry(tmp_path, app, queue="ignored")
    assert argv[argv.index("-q") + 1] == "q;rm -rf ~"
    assert argv[argv.index("-A") + 1] == "$(id)"
    assert argv[argv.index("-v") + 1] == "A='x y',B=$z"


def test_option_errors(tmp_path):
    with pytest.raises(ValueError, match="flavour"):
        lrms.LRMS("x", ["x86_64"], 1, 1, "1GiB", "1h", backend="pbs", flavour="lsf")
    with pytest.raises(ValueError, match="Torque has no projects"):
        lrms.LRMS("x", ["x86_64"], 1, 1, "1GiB", "1h", backend="pbs", flavour="torque",
                  project="p")
    with pytest.raises(lrms.LRMSError, match=r"unknown pbs option.*partition"):
        dry(tmp_path, Application(["true"], extra={"pbs": {"partition": "x"}}))
    with pytest.raises(lrms.LRMSError, match="Torque has no projects"):
        dry(tmp_path, Application(["true"], extra={"pbs": {"project": "p"}}), flavour="torque")
    with pytest.raises(lrms.LimitExceeded):
        dry(tmp_path, Application(["true"], requested_cores=17))
    with pytest.raises(ValueError, match="qstat_json: Torque's qstat has no -F json"):
        lrms.LRMS("x", ["x86_64"], 1, 1, "1GiB", "1h", backend="pbs", flavour="torque",
                  qstat_json=True)
    with pytest.raises(ValueError, match=r"qstat_json: expected one of auto, true, false"):
        lrms.LRMS("x", ["x86_64"], 1, 1, "1GiB", "1h", backend="pbs", qstat_json="yes")


def test_validate_data_and_close(tmp_path):
    res = lrms.LRMS("x", ["x86_64"], 1, 1, "1GiB", "1h", backend="pbs",
                    spool=str(tmp_path / "spool"))
    assert res.validate_data(["file:///data/in.csv"])
    assert not res.validate_data(["file:///data/in.csv", "https://example.org/in.csv"])
    res.close()
    res.close()
    with pytest.raises(lrms.LRMSError, match="closed"):
        res.validate_data([])
