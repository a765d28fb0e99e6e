"""The portable job template on Grid Engine: the generated qsub arguments (dry run), the
refusals, and what the project's real cell received (``qstat -j``, ``qacct -j``).

The cell (tests/services/start-sge.sh) has 2 slots, a ``gpu`` complex (consumable JOB,
the host offers ``LRMS_SGE_GPUS``) and an ``exclusive`` complex (relop EXCL).  Jobs run
as root, so the test may make an advance reservation (``qrsub``).
"""

from __future__ import annotations

import contextlib
import datetime
import time

import pytest

import lrms
from lrms import Application, Dependency, Job, State, TerminationReason

pytestmark = pytest.mark.sge
WAIT = 90.0
DAY = 86400.0


def resource(spool, **options):
    return lrms.LRMS("sgetest", ["x86_64", "aarch64"], 64, 64, "1GiB", "1h", backend="sge",
                     spool=str(spool), max_gpus_per_job=8, **options)


@pytest.fixture
def cell(sge, tmp_path):
    res = resource(tmp_path / "spool", exclusive_complex="exclusive")
    res.jobs = []
    yield res
    try:
        for job in res.jobs:
            if job.state != State.TERMINATED:
                with contextlib.suppress(lrms.LRMSError):
                    res.cancel_job(job)
    finally:
        res.close()


def submit(res, app):
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    res.jobs.append(job)
    return job


def wait(res, jobs, until=(State.TERMINATED,)):
    deadline = time.monotonic() + WAIT
    while any(s not in until for s in res.update_job_states(jobs)):
        assert time.monotonic() < deadline, f"not {until} after {WAIT}s: {jobs}"
        time.sleep(0.5)


def qstat_j(res, job):
    """``qstat -j``'s ``key: value`` lines of ``job``."""
    text = res.transport.check(["qstat", "-j", job.native_id]).text
    return {key.strip(): value.strip() for key, _, value in
            (line.partition(":") for line in text.splitlines()) if value}


def qacct(res, job):
    text = res.transport.check(["qacct", "-j", job.native_id]).text
    return {line.split(None, 1)[0]: line.split(None, 1)[1].strip()
            for line in text.splitlines() if len(line.split(None, 1)) == 2}


def qacct_time(text):
    return datetime.datetime.strptime(text, "%a %b %d %H:%M:%S %Y")


def argv_of(app, **options):
    res = resource("/nonexistent/spool", **options)
    try:
        job = Job(app)
        return res.backend.dry_run(app, job)[1].argv, job
    finally:
        res.close()


# -- generated arguments (dry run) ---------------------------------------------------------

def test_every_field_as_qsub_arguments():
    start = datetime.datetime(2026, 12, 7, 9, 30, 5, tzinfo=datetime.timezone.utc)
    app = Application(
        ["true"], requested_cores=2, tasks_per_node=3, requested_gpus=2, account="physics",
        reservation="17", email="a@example.org", email_events=["fail", "begin", "end"],
        hold=True, earliest_start=start.timestamp(), exclusive=True,
        after=[Dependency("j1", "any", "101"), Dependency("j2", "any", "102")])
    argv, job = argv_of(app, exclusive_complex="exclusive")
    assert argv[:3] == ["env", "TZ=UTC0", "qsub"]
    assert argv[argv.index("-pe"):argv.index("-pe") + 3] == ["-pe", "smp", "6"]
    tail = argv[argv.index("-l", argv.index("-pe")):-1]
    assert tail == ["-l", "gpu=2", "-l", "exclusive=true", "-A", "physics", "-ar", "17",
                    "-M", "a@example.org", "-m", "bea", "-h", "-a", "202612070930.05",
                    "-hold_jid", "101,102"]
    assert f"lrms_{job.jobid}" not in argv   # the user's account replaces the recovery tag
    # Grid Engine's -w e counts an EXCL complex as held by running jobs: only a warning
    assert argv[argv.index("-w") + 1] == "w"


def test_defaults_add_nothing():
    argv, job = argv_of(Application(["true"]))
    assert argv[0] == "qsub" and argv[-3:-1] == ["-A", f"lrms_{job.jobid}"]
    for flag in ("-pe", "-l", "-ar", "-M", "-m", "-h", "-a", "-hold_jid"):
        assert flag not in argv


def test_gpu_complex_options():
    app = Application(["true"], requested_cores=2, requested_gpus=4)
    assert "gpus=4" in argv_of(app, gpu_complex="gpus")[0]
    assert "gpu=2" in argv_of(app, gpu_per_slot=True)[0]     # 4 GPUs over 2 slots


@pytest.mark.parametrize(("app", "options", "message"), [
    (Application(["true"], qos="high"), {}, r"resource sgetest \(backend sge\) cannot honour "
     r"qos=high of job 'true': sge has no such request; remove it or choose another resource"),
    (Application(["true"], constraint="intel&ib"), {}, r"cannot honour constraint=intel&ib"),
    (Application(["true"], nodes=2), {}, r"cannot honour nodes=2"),
    (Application(["true"], after=[Dependency("j1", "ok", "101")]), {},
     r"cannot honour after=j1:ok of job 'true': sge cannot wait for a job to end ok"),
    (Application(["true"], exclusive=True), {}, r"cannot honour exclusive.*exclusive_complex"),
    (Application(["true"], requested_gpus=1), {"gpu_complex": ""},
     r"cannot honour requested_gpus.*gpu_complex option is empty"),
    (Application(["true"], requested_cores=2, requested_gpus=3), {"gpu_per_slot": True},
     r"3 GPUs do not divide over 2 slots"),
])
def test_refusals(app, options, message):
    with pytest.raises((lrms.LimitExceeded, lrms.SubmissionRefused), match=message):
        argv_of(app, **options)


# -- what the cell received --------------------------------------------------------------

def test_cell_receives_the_template_and_release_starts_the_job(cell, sge):
    later = time.time() + DAY
    held = submit(cell, Application(
        ["true"], requested_gpus=1, account="physics", email="root@localhost",
        email_events=["end", "fail"], hold=True, earliest_start=later, exclusive=True))
    info = qstat_j(cell, held)
    assert sorted(info["hard resource_list"].split(",")) == ["exclusive=true", "gpu=1"]
    assert info["account"] == "physics"
    assert (info["mail_list"], info["mail_options"]) == ("root@localhost", "ae")
    when = datetime.datetime.strptime(info["execution_time"], "%a %b %d %H:%M:%S %Y")
    assert when.replace(tzinfo=datetime.timezone.utc).timestamp() == int(later)
    wait(cell, [held], until=(State.STOPPED,))    # held by the user hold

    plain = submit(cell, Application(["sh", "-c", "echo ran"], hold=True, requested_gpus=1))
    wait(cell, [plain], until=(State.STOPPED,))
    cell.release_job(plain)
    wait(cell, [plain])
    assert (plain.exitcode, plain.termination_reason) == (0, TerminationReason.EXITED)
    assert qacct(cell, plain)["category"].split().count("gpu=1") == 1


def test_gpus_over_the_hosts_capacity_are_refused(cell, sge):
    too_many = int(sge["LRMS_SGE_GPUS"]) + 1
    with pytest.raises(lrms.SubmissionRefused, match="no suitable queues"):
        submit(cell, Application(["true"], requested_gpus=too_many))


def test_free_gpus_in_the_resource_status(cell, sge):
    before = cell.get_resource_status().details["free_gpus"]
    running = submit(cell, Application(["sleep", "60"], requested_gpus=1))
    wait(cell, [running], until=(State.RUNNING,))
    assert cell.get_resource_status().details["free_gpus"] == before - 1
    cell.cancel_job(running)
    wait(cell, [running])


def test_hold_jid_starts_b_after_a_ended(cell):
    first = submit(cell, Application(["sh", "-c", "sleep 3; exit 1"]))
    second = submit(cell, Application(
        ["true"], after=[Dependency(first.jobid, "any", first.native_id)]))
    assert qstat_j(cell, second)["jid_predecessor_list (req)"] == first.native_id
    assert cell.update_job_states([second]) == [State.SUBMITTED]   # hqw: not a user hold
    assert second.status_message == f"waiting for job(s) {first.native_id}"
    wait(cell, [first, second])
    assert first.exitcode == 1 and second.exitcode == 0
    assert (qacct_time(qacct(cell, second)["start_time"])
            >= qacct_time(qacct(cell, first)["end_time"]))


def test_job_runs_in_an_advance_reservation(cell):
    made = cell.transport.check(["qrsub", "-d", "600"]).text  # "... reservation 7 has been ..."
    ar = next(word for word in made.split() if word.isdigit())
    try:
        job = submit(cell, Application(["true"], reservation=ar))
        wait(cell, [job])
        assert job.exitcode == 0 and qacct(cell, job)["arid"] == ar
    finally:
        cell.transport.run(["qrdel", ar])
