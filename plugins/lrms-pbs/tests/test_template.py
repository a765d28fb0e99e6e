"""The portable job template on PBS: generated qsub arguments for both flavours (dry run),
the refusals, and, for the torque flavour, what reached Slurm through its Torque wrappers
(``scontrol show job``, ``sacct``).  PBS Pro is checked on generated arguments only: no PBS
Pro server runs here.
"""

from __future__ import annotations

import contextlib
import datetime
import time

import pytest

import lrms
from lrms import Application, Dependency, Job, State, TerminationReason

DEADLINE = 90.0
START = datetime.datetime(2026, 12, 7, 9, 30, 5, tzinfo=datetime.timezone.utc).timestamp()


def dry(app, **options):
    res = lrms.LRMS("dry", ["x86_64"], 64, 64, "4GiB", "2 days", backend="pbs",
                    spool="/nonexistent/spool", max_gpus_per_job=16, **options)
    try:
        return res.backend.dry_run(app, Job(app))[1].argv
    finally:
        res.close()


def between(argv, first, last):
    """The arguments from ``first`` up to (not including) ``last``."""
    return argv[argv.index(first):argv.index(last)]


FULL = dict(requested_cores=2, tasks_per_node=4, nodes=3, requested_gpus=2,
            requested_memory="6GiB", requested_walltime="1h", account="acct1",
            email="a@example.org", email_events=["end", "begin", "fail"], hold=True,
            earliest_start=START, exclusive=True,
            after=[Dependency("j1", "ok", "101.srv"), Dependency("j2", "any", "102.srv"),
                   Dependency("j3", "ok", "103.srv")])


def test_pbspro_arguments():
    argv = dry(Application(["true"], reservation="R123", **FULL), queue="workq", account="x")
    assert argv[:3] == ["env", "TZ=UTC0", "qsub"]
    assert between(argv, "-q", "-M") == [
        "-q", "R123", "-A", "acct1",
        "-l", "select=3:ncpus=8:mpiprocs=4:ngpus=2:mem=2048mb", "-l", "walltime=01:00:00",
        "-l", "place=scatter:excl"]
    assert argv[argv.index("-M"):-1] == [
        "-M", "a@example.org", "-m", "bea", "-h", "-a", "202612070930.05",
        "-W", "depend=afterok:101.srv:103.srv,afterany:102.srv"]


def test_pbspro_placement():
    assert "place=excl" in dry(Application(["true"], exclusive=True))
    two = dry(Application(["true"], nodes=2))
    assert "place=scatter" in two and "select=2:ncpus=1" in two


def test_torque_arguments():
    argv = dry(Application(["true"], constraint="fast&ib", **FULL), flavour="torque",
               queue="batch")
    assert argv[:3] == ["env", "TZ=UTC0", "qsub"]
    assert between(argv, "-q", "-M") == [
        "-q", "batch", "-A", "acct1",
        "-l", "nodes=3:ppn=8:gpus=2:fast:ib,mem=6144mb,walltime=01:00:00"]
    assert argv[argv.index("-M"):-1] == [
        "-M", "a@example.org", "-m", "bea", "-h", "-a", "202612070930.05", "-n",
        "-W", "depend=afterok:101.srv:103.srv,afterany:102.srv"]


def test_defaults_add_nothing():
    for flavour in ("pbspro", "torque"):
        argv = dry(Application(["true"]), flavour=flavour)
        assert argv[0] == "qsub"
        for flag in ("-M", "-m", "-h", "-a", "-n", "-W", "-A", "-q"):
            assert flag not in argv


@pytest.mark.parametrize(("app", "flavour", "message"), [
    (Application(["true"], qos="high"), "pbspro", r"resource dry \(backend pbs\) cannot "
     r"honour qos=high of job 'true': pbs has no such request; remove it or choose another "
     r"resource"),
    (Application(["true"], qos="high"), "torque", r"cannot honour qos=high"),
    (Application(["true"], constraint="intel"), "pbspro",
     r"\(backend pbs, flavour pbspro\) cannot honour constraint of job 'true': PBS Pro has "
     r"no node features"),
    (Application(["true"], reservation="R1"), "torque",
     r"flavour torque\) cannot honour reservation.*Moab"),
    (Application(["true"], constraint="intel|amd"), "torque",
     r"cannot honour constraint.*only names joined by &"),
    (Application(["true"], account="$(id)"), "torque",
     r"cannot honour account.*through a shell"),
])
def test_refusals(app, flavour, message):
    with pytest.raises((lrms.LimitExceeded, lrms.SubmissionRefused), match=message):
        dry(app, flavour=flavour)


# ---------------------------------------------------------------------------
# torque flavour on Slurm's Torque wrappers: what reached Slurm
# ---------------------------------------------------------------------------

@pytest.fixture
def wrappers(torque, tmp_path):
    commands = {f"{name}_command": f"{torque}/{name}"
                for name in ("qsub", "qstat", "qdel", "qrls", "pbsnodes")}
    res = lrms.LRMS("wrappers", ["x86_64"], 2, 2, "1GiB", "1h", backend="pbs",
                    flavour="torque", spool=str(tmp_path / "spool"), max_gpus_per_job=2,
                    **commands)
    res.jobs = []
    yield res
    for job in res.jobs:
        if job.state != State.TERMINATED:
            with contextlib.suppress(lrms.LRMSError):
                res.cancel_job(job)
    res.close()


def submit(res, app):
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    res.jobs.append(job)
    return job


def wait(res, jobs, until=(State.TERMINATED,)):
    """Poll until every job is in ``until`` (a failed qstat is retried: other tests restart
    the shared Slurm controller)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        with contextlib.suppress(lrms.CommandFailed):
            res.update_job_states(jobs)
            if all(job.state in until for job in jobs):
                return
        assert time.monotonic() < deadline, f"{jobs} not {until} after {DEADLINE} s"
        time.sleep(0.5)


def slurm_job(res, job):
    """``scontrol show job``'s ``Key=Value`` pairs of ``job``."""
    text = res.transport.check(["scontrol", "show", "job", job.native_id]).text
    return dict(word.split("=", 1) for word in text.split() if "=" in word)


def sacct_times(res, *jobs):
    """{native id: (start, end)} from Slurm's accounting."""
    text = res.transport.check(["sacct", "-X", "-n", "-P", "-o", "JobID,Start,End", "-j",
                                ",".join(job.native_id for job in jobs)]).text
    return {native: (start, end) for native, start, end in
            (line.split("|") for line in text.splitlines())}


def test_held_job_with_mail_and_gpus_reaches_slurm_and_is_released(wrappers):
    app = Application(["true"], requested_walltime="5min", requested_gpus=1,
                      email="root@localhost", email_events=["begin", "fail"], hold=True)
    job = submit(wrappers, app)
    seen = slurm_job(wrappers, job)
    assert (seen["JobState"], seen["Reason"]) == ("PENDING", "JobHeldUser")
    assert (seen["MailUser"], seen["MailType"]) == ("root@localhost", "BEGIN,FAIL")
    assert seen["TresPerNode"] == "gres:gpu:1"
    wrappers.release_job(job)
    wait(wrappers, [job])
    assert (job.exitcode, job.termination_reason) == (0, TerminationReason.EXITED)


def test_afterok_starts_b_after_a_ended(wrappers):
    first = submit(wrappers, Application(["sleep", "3"], requested_walltime="5min"))
    second = submit(wrappers, Application(
        ["true"], requested_walltime="5min",
        after=[Dependency(first.jobid, "ok", first.native_id)]))
    assert slurm_job(wrappers, second)["Dependency"].startswith(f"afterok:{first.native_id}")
    wait(wrappers, [first, second])
    assert first.exitcode == 0 and second.exitcode == 0
    times = sacct_times(wrappers, first, second)
    assert times[second.native_id][0] >= times[first.native_id][1]   # ISO 8601 text


def test_afterok_on_a_failed_job_never_starts(wrappers):
    """Slurm keeps the dependent job pending for ever: cancelling it is the engine's part."""
    first = submit(wrappers, Application(["false"], requested_walltime="5min"))
    second = submit(wrappers, Application(
        ["true"], requested_walltime="5min",
        after=[Dependency(first.jobid, "ok", first.native_id)]))
    wait(wrappers, [first])
    deadline = time.monotonic() + DEADLINE
    while slurm_job(wrappers, second)["Reason"] != "DependencyNeverSatisfied":
        assert time.monotonic() < deadline, slurm_job(wrappers, second)
        time.sleep(0.5)
    assert wrappers.update_job_states([second]) == [State.SUBMITTED]
    wrappers.cancel_job(second)
    wait(wrappers, [second])
    assert second.termination_reason == TerminationReason.CANCELLED


@pytest.mark.parametrize(("app", "said"), [
    (Application(["true"], exclusive=True), "Unknown option: n"),
    (Application(["true"], earliest_start=START), "Invalid --begin specification"),
])
def test_what_the_wrappers_lack_is_refused_by_them(wrappers, app, said):
    """Torque's qsub -n and -a, which Slurm's wrappers do not translate: the refusal
    reaches the user with the wrappers' own words."""
    with pytest.raises(lrms.SubmissionRefused, match=said):
        submit(wrappers, app)
