"""Tests of lrms_slurm.parse against recorded Slurm output (see data/SOURCES.md)."""

from __future__ import annotations

import contextlib
import pathlib

import pytest

from lrms import Duration, Memory, State, TerminationReason
from lrms.report import JobReport
from lrms_slurm.parse import (
    COMPACT_STATES,
    SACCT_ARGS,
    SACCT_FIELDS,
    SINFO_ARGS,
    SINFO_FORMAT,
    SQUEUE_ARGS,
    SQUEUE_COUNT_ARGS,
    SQUEUE_FORMAT,
    STATES,
    count_jobs,
    expand_array_id,
    gpu_count,
    index_reports,
    merge_array,
    parse_exit_code,
    parse_max_array_size,
    parse_sacct,
    parse_sbatch_id,
    parse_scontrol_show_job,
    parse_sinfo,
    parse_slurm_duration,
    parse_slurm_memory,
    parse_squeue,
    slurm_state,
)

DATA = pathlib.Path(__file__).parent / "data"
Why = TerminationReason
GC3PIE_SACCT = "jobid,exitcode,state,ncpus,elapsed,totalcpu,submit,start,end,maxrss,maxvmsize"
SNAKEMAKE_SACCT = "JobID,JobName,Comment,Elapsed,TotalCPU,NNodes,NCPUS,MaxRSS,ReqMem"
AIIDA_SQUEUE = "%i^^^%t^^^%r^^^%B^^^%u^^^%D^^^%C^^^%R^^^%P^^^%l^^^%M^^^%S^^^%j^^^%V"


def read(name: str) -> str:
    return (DATA / name).read_text()


def by_id(reports: list[JobReport]) -> dict[str, JobReport]:
    ids = [report.native_id for report in reports]
    assert len(set(ids)) == len(ids), ids
    return {report.native_id: report for report in reports}


def KiB(n: int) -> Memory:
    return Memory(n * 1024)


# --- constants ------------------------------------------------------------

def test_command_lines_use_the_formats() -> None:
    """The backend's argv carries exactly the formats the parsers read."""
    squeue = ("squeue", "--noheader", "--states=all", f"--format={SQUEUE_FORMAT}")
    sacct = ("sacct", "--parsable2", "--noheader", f"--format={SACCT_FIELDS}")
    assert (squeue, sacct) == (SQUEUE_ARGS, SACCT_ARGS)
    assert SACCT_FIELDS.split(",")[-1] == "Reason"  # free text last
    assert ("sinfo", "--noheader", f"--Format={SINFO_FORMAT}") == SINFO_ARGS
    assert SQUEUE_COUNT_ARGS == ("squeue", "--noheader", "--format=%t|%u")


# --- squeue ---------------------------------------------------------------

def test_squeue_caret_separated_aiida_rosa() -> None:
    """aiida-core sample: squeue on CSCS Rosa (Cray), Slurm 2.x, 2013, compact %t states."""
    reports = parse_squeue(read("squeue-caret-separated.txt"), AIIDA_SQUEUE)
    assert [r.native_id for r in reports] == [
        "862540", "863100", "863546", "863313", "862538", "861352", "863553", "863554"]
    jobs = by_id(reports)
    for pending, why in (("862540", "Dependency"), ("863100", "Resources"),
                         ("863546", "Priority")):
        assert jobs[pending].state == State.SUBMITTED
        assert jobs[pending].raw_state == "PD"
        assert jobs[pending].message == why
    assert jobs["863313"].state == State.STOPPED
    assert jobs["863313"].message == "JobHeldUser"
    for running in ("862538", "861352", "863553", "863554"):
        assert jobs[running].state == State.RUNNING
        assert jobs[running].raw_state == "R"
        assert jobs[running].exitcode is None and jobs[running].reason is None
    assert jobs["862538"].walltime == Duration(1930)
    assert jobs["861352"].walltime == Duration(23 * 3600 + 30 * 60 + 20)
    assert jobs["863553"].walltime == Duration(1769)


def test_squeue_pipe_separated_pysqa_mpcdf() -> None:
    """pysqa sample: squeue at an MPCDF cluster, 2023 (%A job ids, no final newline)."""
    reports = parse_squeue(read("squeue-pipe-separated.txt"), "%A|%u|%t|%.15j|%Z")
    assert [r.native_id for r in reports] == ["5322019", "5322016", "5322017", "5322018",
                                              "5322013"]
    assert all(r.state == State.RUNNING and r.walltime is None for r in reports)


def test_squeue_ci_finished_held_suspended() -> None:
    """Captured on the project's CI Slurm 22.05 with SQUEUE_FORMAT (jobs 6..17)."""
    jobs = by_id(parse_squeue(read("ci2205-squeue-finished-held-suspended.txt")))
    assert set(jobs) == {"6", "7", "8", "9", "10", "11", "12", "13", "15", "17",
                         "14_1", "14_2", "14_3", "14_4", "14_5"}
    assert (jobs["8"].state, jobs["8"].reason, jobs["8"].walltime) == (
        State.TERMINATED, Why.CANCELLED, Duration(5))
    for done in ("6", "11", "14_1", "14_2", "14_3", "14_4", "14_5"):
        assert (jobs[done].state, jobs[done].reason, jobs[done].exitcode) == (
            State.TERMINATED, Why.EXITED, 0)
    assert jobs["14_3"].walltime == Duration(15)
    for failed in ("7", "10", "12"):  # squeue prints no exit code: exited or signalled?
        assert (jobs[failed].state, jobs[failed].reason) == (State.TERMINATED, Why.UNKNOWN)
        assert jobs[failed].exitcode is None and jobs[failed].signal is None
    assert jobs["7"].message == "NonZeroExitCode"
    assert (jobs["17"].state, jobs["17"].message) == (State.STOPPED, "JobHeldAdmin")
    assert (jobs["9"].state, jobs["9"].message) == (State.STOPPED, "JobHeldUser")
    assert jobs["15"].state == State.STOPPED
    assert (jobs["13"].state, jobs["13"].reason, jobs["13"].walltime) == (
        State.TERMINATED, Why.WALLTIME_EXCEEDED, Duration(83))


def test_squeue_ci_array_and_requeuehold() -> None:
    """Captured on the project's CI Slurm 22.05: array 21 (0-6:2%1), requeuehold, admin hold."""
    jobs = by_id(parse_squeue(read("ci2205-squeue-array-requeuehold.txt")))
    assert set(jobs) == {"21_[2,4,6%1]", "15", "17", "21_0"}
    assert jobs["21_[2,4,6%1]"].state == State.SUBMITTED
    assert jobs["21_[2,4,6%1]"].message == "JobArrayTaskLimit"
    assert expand_array_id("21_[2,4,6%1]") == ["21_2", "21_4", "21_6"]
    assert (jobs["15"].state, jobs["15"].message) == (State.STOPPED, "job requeued in held state")
    assert jobs["17"].state == State.STOPPED
    assert (jobs["21_0"].state, jobs["21_0"].walltime) == (State.RUNNING, Duration(2))


def test_squeue_reason_from_nodelist_column() -> None:
    """%R prints the reason in parentheses for pending jobs (squeue default format)."""
    [report] = parse_squeue("42 PD (JobHeldAdmin)\n", "%i %t %R")
    assert (report.state, report.message) == (State.STOPPED, "JobHeldAdmin")


def test_squeue_keeps_separators_in_last_column() -> None:
    """The last column takes the rest of the line, so a '|' in a reason cannot shift columns."""
    [report] = parse_squeue("7|PENDING|0:00|odd|reason\n")
    assert report.message == "odd|reason"


# --- sacct ----------------------------------------------------------------

def test_sacct_batch_steps_snakemake() -> None:
    """snakemake-executor-plugin-slurm sample: recent Slurm, 2025, no State column."""
    reports = parse_sacct(read("sacct-parsable2-batch-steps.txt"), SNAKEMAKE_SACCT)
    assert [r.native_id for r in reports] == ["10294159", "10294160"]
    first, second = reports
    assert (first.walltime, first.cputime, first.max_memory) == (
        Duration(91), Duration(24.041), KiB(183612))
    assert (second.walltime, second.cputime, second.max_memory) == (
        Duration(90), Duration(24.055), KiB(184352))
    assert first.state == State.UNKNOWN and "no state" in (first.message or "")


def test_sacct_cancelled_gc3pie() -> None:
    """GC3Pie sample (sacct --parsable, trailing '|'), Slurm of Dec 2014: CANCELLED by 1000."""
    [report] = parse_sacct(read("sacct-parsable-cancelled.txt"), GC3PIE_SACCT)
    assert report.native_id == "123"
    assert (report.state, report.reason) == (State.TERMINATED, Why.CANCELLED)
    assert report.raw_state == "CANCELLED by 1000"
    assert report.message == "cancelled by uid 1000"
    assert (report.exitcode, report.signal) == (None, 15)  # job line 0:0, .batch 0:15
    assert (report.walltime, report.cputime, report.max_memory) == (
        Duration(5), Duration(0), Memory(0))


def test_sacct_fractional_rusage_gc3pie() -> None:
    """GC3Pie sample from the University of Geneva, 2013: ten steps, MaxRSS '72.50M'."""
    [report] = parse_sacct(read("sacct-parsable-fractional-rusage.txt"), GC3PIE_SACCT)
    assert (report.native_id, report.state, report.reason) == (
        "123", State.TERMINATED, Why.EXITED)
    assert (report.exitcode, report.signal) == (0, None)
    assert report.walltime == Duration(449)
    assert report.cputime == Duration(58 * 60 + 10.42)
    assert report.max_memory == KiB(74404)


def test_sacct_pending_array_range_mavis() -> None:
    """MAVIS sample (BCGSC, Slurm 17.x, 2018): header line, pending range 1701003_[37-200]."""
    reports = parse_sacct(read("sacct-parsable2-pending-array-range.txt"))
    assert [r.native_id for r in reports] == ["1701003_[37-200]", "1701003_1"]
    pending, running = reports
    assert pending.state == State.SUBMITTED
    tasks = expand_array_id(pending.native_id)
    assert (len(tasks), tasks[0], tasks[-1]) == (164, "1701003_37", "1701003_200")
    assert (running.state, running.walltime, running.max_memory) == (
        State.RUNNING, Duration(300), None)


def test_sacct_array_throttle_submitit() -> None:
    """submitit sample (version not recorded): .ext+ step, typo state RUNING, %25 throttle."""
    reports = parse_sacct(read("sacct-parsable2-array-throttle.txt"))
    assert [r.native_id for r in reports] == ["5610980", "20956421_0", "20956421_[2-4%25]"]
    assert [r.state for r in reports] == [State.RUNNING, State.RUNNING, State.SUBMITTED]
    ids = {task for r in reports for task in expand_array_id(r.native_id)}
    assert ids == {"5610980", "20956421_0", "20956421_2", "20956421_3", "20956421_4"}
    [step] = parse_sacct("JobID|State\n5610980.0|RUNING\n")
    assert step.state == State.UNKNOWN and "RUNING" in (step.message or "")


def test_sacct_ci_finished() -> None:
    """Captured on the project's CI Slurm 22.05 with SACCT_FIELDS (jobs 6..17)."""
    reports = parse_sacct(read("ci2205-sacct-finished.txt"))
    assert [r.native_id for r in reports] == [
        "6", "7", "8", "9", "10", "11", "12", "13", "15",
        "14_1", "14_2", "14_3", "14_4", "14_5", "17"]
    jobs = by_id(reports)
    assert (jobs["6"].reason, jobs["6"].exitcode, jobs["6"].cputime) == (
        Why.EXITED, 0, Duration(0.001))
    assert (jobs["7"].reason, jobs["7"].exitcode, jobs["7"].signal) == (Why.EXITED, 3, None)
    cancelled = jobs["8"]
    assert (cancelled.reason, cancelled.exitcode, cancelled.signal) == (Why.CANCELLED, None, 15)
    assert cancelled.message == "cancelled by uid 0"
    assert (cancelled.walltime, cancelled.max_memory) == (Duration(5), KiB(3228))
    assert (jobs["9"].state, jobs["9"].message) == (State.STOPPED, "JobHeldUser")
    assert (jobs["10"].reason, jobs["10"].exitcode, jobs["10"].signal) == (
        Why.SIGNALLED, None, 9)
    steps = jobs["11"]
    assert (steps.cputime, steps.max_memory, steps.walltime) == (
        Duration(0.14), KiB(10748), Duration(2))
    memkill = jobs["12"]  # over its 50 MiB request: the backend's judgement
    assert (memkill.reason, memkill.signal, memkill.max_memory) == (
        Why.SIGNALLED, 9, KiB(367620))
    assert (jobs["13"].reason, jobs["13"].signal, jobs["13"].walltime) == (
        Why.WALLTIME_EXCEEDED, 15, Duration(83))
    assert (jobs["15"].state, jobs["15"].message) == (State.STOPPED, "suspended")
    for task in ("14_1", "14_2", "14_3", "14_4", "14_5"):
        assert (jobs[task].reason, jobs[task].walltime) == (Why.EXITED, Duration(15))
        assert jobs[task].message is None  # stale JobArrayTaskLimit dropped
    assert (jobs["17"].state, jobs["17"].message) == (State.SUBMITTED, None)


def test_sacct_ci_array_pending() -> None:
    """Captured on the project's CI Slurm 22.05: requeue-held job 15 and array 21."""
    jobs = by_id(parse_sacct(read("ci2205-sacct-array-pending.txt")))
    assert set(jobs) == {"15", "21_0", "21_[2,4,6%1]"}
    assert jobs["15"].state == State.STOPPED
    assert jobs["21_0"].state == State.RUNNING
    assert jobs["21_[2,4,6%1]"].state == State.SUBMITTED


def test_sacct_step_cpu_summed_without_job_line_value() -> None:
    """Without the job line's TotalCPU the steps' CPU times are added up."""
    [report] = parse_sacct("5|COMPLETED|0:0|00:01:00|||\n5.batch|COMPLETED|0:0|00:01:00|"
                           "00:02.500|1M|\n5.0|COMPLETED|0:0|00:00:50|00:40.000|2M|\n"
                           "5.extern|COMPLETED|0:0|00:01:00|00:00.001|9G|\n")
    assert (report.cputime, report.max_memory) == (Duration(42.5), Memory("2MiB"))


# --- scontrol show job ----------------------------------------------------

@pytest.mark.parametrize(("name", "native_id", "state", "walltime"), [
    ("scontrol-show-job-pending.txt", "12166198", State.SUBMITTED, 0),
    ("scontrol-show-job-running.txt", "12166280", State.RUNNING, 25),
])
def test_scontrol_live_comet(name: str, native_id: str, state: State, walltime: int) -> None:
    """oecophylla samples: scontrol show job on SDSC Comet, October 2017."""
    [report] = parse_scontrol_show_job(read(name))
    assert (report.native_id, report.state, report.walltime) == (
        native_id, state, Duration(walltime))
    assert (report.exitcode, report.signal, report.reason, report.message) == (
        None, None, None, None)


def test_scontrol_completed_and_failed_comet() -> None:
    """oecophylla samples: scontrol show job on SDSC Comet, October 2017 (0:0 and 1:0)."""
    [done] = parse_scontrol_show_job(read("scontrol-show-job-completed.txt"))
    assert (done.native_id, done.state, done.reason, done.exitcode, done.signal) == (
        "12166548", State.TERMINATED, Why.EXITED, 0, None)
    assert done.walltime == Duration(2)
    [failed] = parse_scontrol_show_job(read("scontrol-show-job-failed.txt"))
    assert (failed.native_id, failed.state, failed.reason, failed.exitcode, failed.signal) == (
        "12166539", State.TERMINATED, Why.EXITED, 1, None)
    assert (failed.walltime, failed.message) == (Duration(2), "NonZeroExitCode")


def test_scontrol_dependency_never_satisfied_mavis() -> None:
    """MAVIS sample (BCGSC, Slurm 17.x, 2018): a dependency that can never be met."""
    [report] = parse_scontrol_show_job(read("scontrol-show-job-pending-dependency.txt"))
    assert (report.native_id, report.state, report.message) == (
        "1673292", State.STOPPED, "DependencyNeverSatisfied")


@pytest.mark.parametrize(("name", "native_id", "state", "reason", "exitcode", "signal",
                          "walltime", "message"), [
    ("exit3", "7", State.TERMINATED, Why.EXITED, 3, None, 0, "NonZeroExitCode"),
    ("cancelled", "8", State.TERMINATED, Why.CANCELLED, None, 15, 5, None),
    ("kill9", "10", State.TERMINATED, Why.SIGNALLED, None, 9, 0, "JobLaunchFailure"),
    ("memkill", "12", State.TERMINATED, Why.SIGNALLED, None, 9, 1, "JobLaunchFailure"),
    ("timeout", "13", State.TERMINATED, Why.WALLTIME_EXCEEDED, None, 15, 83, "TimeLimit"),
    ("suspended", "15", State.STOPPED, None, None, None, 9, "suspended"),
    ("held", "9", State.STOPPED, None, None, None, 0, "JobHeldUser"),
    ("requeuehold", "15", State.STOPPED, None, None, None, 0, "job_requeued_in_held_state"),
])
def test_scontrol_ci(name: str, native_id: str, state: State, reason: Why | None,
                     exitcode: int | None, signal: int | None, walltime: int,
                     message: str | None) -> None:
    """Captured on the project's CI Slurm 22.05 (`scontrol show job ID`)."""
    [report] = parse_scontrol_show_job(read(f"ci2205-scontrol-show-job-{name}.txt"))
    assert (report.native_id, report.state, report.reason, report.exitcode, report.signal,
            report.walltime, report.message) == (
        native_id, state, reason, exitcode, signal, Duration(walltime), message)


def test_scontrol_ci_arrays() -> None:
    """Captured on the project's CI Slurm 22.05: finished array 14 and pending array 21."""
    done = parse_scontrol_show_job(read("ci2205-scontrol-show-job-array-done.txt"))
    assert [r.native_id for r in done] == ["14_5", "14_4", "14_3", "14_2", "14_1"]
    assert all((r.state, r.reason, r.exitcode, r.walltime) ==
               (State.TERMINATED, Why.EXITED, 0, Duration(15)) for r in done)
    pending, running = parse_scontrol_show_job(read("ci2205-scontrol-show-job-array-pending.txt"))
    assert (pending.native_id, pending.state, pending.message) == (
        "21_[2,4,6%1]", State.SUBMITTED, "JobArrayTaskLimit")
    assert (running.native_id, running.state) == ("21_0", State.RUNNING)


def test_scontrol_values_with_spaces() -> None:
    """Command=/WorkDir= keep spaces and '='; a Reason with spaces stays whole."""
    text = ("JobId=5 JobName=a b\n   JobState=PENDING Reason=launch failed requeued held "
            "Dependency=(null)\n   Command=/x/run me --opt=1\n   WorkDir=/my dir\n\n"
            "JobId=6 JobName=c\n   JobState=RUNNING Reason=None\n   RunTime=1-00:00:01\n")
    first, second = parse_scontrol_show_job(text)
    assert (first.state, first.message) == (State.STOPPED, "launch failed requeued held")
    assert (second.state, second.walltime) == (State.RUNNING, Duration(86401))


def test_scontrol_ci_exit200_and_odd_name() -> None:
    """Captured on the project's CI Slurm 22.05: exit 200 whole; Reason= inside a job name."""
    [high] = parse_scontrol_show_job(read("ci2205-scontrol-show-job-exit200.txt"))
    assert (high.native_id, high.reason, high.exitcode, high.signal) == (
        "1667", Why.EXITED, 200, None)
    [odd] = parse_scontrol_show_job(read("ci2205-scontrol-show-job-odd-name.txt"))
    assert (odd.native_id, odd.state, odd.reason, odd.exitcode, odd.message) == (
        "1668", State.TERMINATED, Why.EXITED, 0, None)


def test_sacct_ci_cancelled_pending_and_masked_exit() -> None:
    """Captured on the project's CI Slurm 22.05: a pending job cancelled has no exit status;
    sacct prints exit 200 as 72 (the backend reads the exit file instead)."""
    jobs = by_id(parse_sacct(read("ci2205-sacct-cancelled-pending-exit200.txt")))
    assert (jobs["1666"].state, jobs["1666"].reason, jobs["1666"].exitcode,
            jobs["1666"].signal) == (State.TERMINATED, Why.CANCELLED, None, None)
    assert jobs["1666"].message == "cancelled by uid 0"
    assert (jobs["1667"].reason, jobs["1667"].exitcode) == (Why.EXITED, 72)


# --- arrays ---------------------------------------------------------------

def test_index_ci_finished_array_from_squeue_and_sacct() -> None:
    """Captured on the project's CI Slurm 22.05: array 14 (1-5%1) merged into one report."""
    queue = index_reports(parse_squeue(read("ci2205-squeue-finished-held-suspended.txt")))
    array = queue["14"]
    assert (array.state, array.reason, array.exitcode, array.walltime) == (
        State.TERMINATED, Why.EXITED, 0, Duration(15))
    assert array.message == "array tasks: 5 COMPLETED"
    assert queue["14_3"].native_id == "14_3" and queue["7"].native_id == "7"
    accounted = index_reports(parse_sacct(read("ci2205-sacct-finished.txt")))["14"]
    assert accounted.state == State.TERMINATED
    assert accounted.cputime is not None and accounted.walltime == Duration(15)


def test_index_ci_live_array_and_pending_range() -> None:
    """Captured on the project's CI Slurm 22.05: array 21 runs task 0, tasks 2,4,6 wait."""
    index = index_reports(parse_squeue(read("ci2205-squeue-array-requeuehold.txt")))
    assert (index["21"].state, index["21"].message) == (
        State.RUNNING, "array tasks: 3 PENDING, 1 RUNNING")
    assert index["21_4"].native_id == "21_[2,4,6%1]"
    assert index["21_4"].state == State.SUBMITTED
    assert "21_5" not in index


def test_index_ci_array_whose_accounting_lags() -> None:
    """Captured on the project's CI Slurm 22.05: squeue has 3 finished tasks, sacct one
    pending job (no task yet) - the queue's answer is the one to keep."""
    queue = index_reports(parse_squeue(read("ci2205-squeue-array-done.txt")))
    assert (queue["1680"].state, queue["1680"].exitcode, queue["1680"].message) == (
        State.TERMINATED, 0, "array tasks: 3 COMPLETED")
    accounted = index_reports(parse_sacct(read("ci2205-sacct-array-lagging.txt")))
    assert set(accounted) == {"1680"} and accounted["1680"].state == State.SUBMITTED


def test_merge_array_outcome_of_first_failed_task() -> None:
    """Once every task has ended, the array's outcome is its first unsuccessful task's."""
    tasks = parse_sacct("5_1|COMPLETED|0:0|00:00:10|00:00:02|1M|None\n"
                        "5_2|FAILED|3:0|00:00:20|00:00:03|5M|None\n"
                        "5_3|FAILED|0:9|00:00:05|00:00:01|2M|None\n")
    merged = merge_array("5", tasks)
    assert (merged.state, merged.reason, merged.exitcode, merged.signal) == (
        State.TERMINATED, Why.EXITED, 3, None)
    assert (merged.walltime, merged.cputime, merged.max_memory) == (
        Duration(20), Duration(6), Memory("5MiB"))
    assert merged.message == "array tasks: 1 COMPLETED, 2 FAILED"
    held = parse_squeue("6_[1-4]|PENDING|0:00|JobHeldUser\n")
    assert merge_array("6", held).state == State.STOPPED


# --- load -----------------------------------------------------------------

def test_sinfo_ci_cpus_and_gpus() -> None:
    """Captured on the project's CI Slurm 22.05: the default partition, both CPUs busy,
    one of the node's two GPUs in use."""
    text = read("ci2205-sinfo-gpus.txt")
    assert parse_sinfo(text) == parse_sinfo(text, "debug") == ("debug", 2, 0, 0, 2, 2, 1)
    with pytest.raises(ValueError, match="'gpu'"):
        parse_sinfo(text, "gpu")
    with pytest.raises(ValueError, match="A/I/O/T"):
        parse_sinfo("debug*|2/0/2|1|gpu:2|gpu:1\n")
    with pytest.raises(ValueError, match="5 fields"):
        parse_sinfo("debug*|2/0/0/2\n")


def test_sinfo_sums_the_lines_of_a_partition() -> None:
    """sinfo prints one line per group of alike nodes: CPUs add up, GPUs are per node."""
    text = ("debug*|2/0/0/2|1|gpu:2|gpu:1\n"
            "debug*|0/8/0/8|3|(null)|gpu:0\n"
            "gpu|4/28/0/32|2|gpu:A30:4|gpu:A30:1(IDX:0)\n")
    assert parse_sinfo(text) == ("debug", 2, 8, 0, 10, 2, 1)
    assert parse_sinfo(text, "gpu") == ("gpu", 4, 28, 0, 32, 8, 2)


@pytest.mark.parametrize(("gres", "count"), [
    ("(null)", 0), ("gpu:2", 2), ("gpu", 1), ("gpu:tesla", 1), ("gpu:0", 0),
    # Gres/GresUsed values of `sinfo -NO "...,Gres:14,GresUsed:22,..." -p gpu` in UCI RCIC's
    # HPC3 user guide (Slurm page, "how many CPU and GPUs are available in gpu partition")
    ("gpu:V100:4", 4), ("gpu:A30:0(IDX:N/A)", 0), ("gpu:V100:3(IDX:0-1,3)", 3),
    ("gpu:a100:1(IDX:0),gpu:v100:2(IDX:1,3),mps:100", 3), ("mps:400,shard:2", 0),
])
def test_gpu_count(gres: str, count: int) -> None:
    assert gpu_count(gres) == count


def test_gpu_count_refuses_a_count_that_is_no_number() -> None:
    with pytest.raises(ValueError, match="invalid GPU count"):
        gpu_count("gpu:a100:lots")


def test_squeue_ci_load_counts() -> None:
    """Captured on the project's CI Slurm 22.05: 5 waiting jobs, 2 running (1 of lrmstest)."""
    text = read("ci2205-squeue-load.txt")
    assert count_jobs(text, "root") == (5, 2, 5, 1)
    assert count_jobs(text, "lrmstest") == (5, 2, 0, 1)
    assert count_jobs("S|a\nCG|a\nRH|a\nCD|a\nF|b\n", "a") == (1, 2, 1, 2)


# --- state table ----------------------------------------------------------

T, S = State.TERMINATED, State.STOPPED
STATE_CASES = [
    # (sacct State, ExitCode, Reason) -> (state, termination reason)
    ("PENDING", "0:0", "None", State.SUBMITTED, None),
    ("PENDING", "0:0", "Priority", State.SUBMITTED, None),
    ("PENDING", "0:0", "JobHeldUser", S, None),
    ("PENDING", "0:0", "JobHeldAdmin", S, None),
    ("PENDING", "0:0", "launch failed requeued held", S, None),
    ("PENDING", "0:0", "job_requeued_in_held_state", S, None),
    ("PENDING", "0:0", "DependencyNeverSatisfied", S, None),
    ("CONFIGURING", "0:0", "", State.SUBMITTED, None),
    ("REQUEUED", "0:0", "", State.SUBMITTED, None),
    ("REQUEUE_FED", "0:0", "", State.SUBMITTED, None),
    ("REQUEUED", "0:0", "JobHeldAdmin", S, None),
    ("REQUEUE_HOLD", "0:0", "", S, None),
    ("RESV_DEL_HOLD", "0:0", "", S, None),
    ("SPECIAL_EXIT", "0:0", "", S, None),
    ("RUNNING", "0:0", "None", State.RUNNING, None),
    ("COMPLETING", "0:0", "", State.RUNNING, None),
    ("STAGE_OUT", "0:0", "", State.RUNNING, None),
    ("SIGNALING", "0:0", "", State.RUNNING, None),
    ("RESIZING", "0:0", "", State.RUNNING, None),
    ("SUSPENDED", "0:0", "", S, None),
    ("STOPPED", "0:0", "", S, None),
    ("COMPLETED", "0:0", "None", T, Why.EXITED),
    ("FAILED", "3:0", "NonZeroExitCode", T, Why.EXITED),
    ("FAILED", "0:9", "None", T, Why.SIGNALLED),
    ("FAILED", "0:15", "None", T, Why.SIGNALLED),
    ("CANCELLED", "0:15", "None", T, Why.CANCELLED),
    ("CANCELLED by 1000", "0:0", "None", T, Why.CANCELLED),
    ("CANCELLED+", "0:0", "", T, Why.CANCELLED),  # truncated by plain sacct
    ("TIMEOUT", "0:0", "TimeLimit", T, Why.WALLTIME_EXCEEDED),
    ("DEADLINE", "0:0", "", T, Why.WALLTIME_EXCEEDED),
    ("OUT_OF_MEMORY", "0:125", "OutOfMemory", T, Why.MEMORY_EXCEEDED),
    ("NODE_FAIL", "0:0", "", T, Why.NODE_FAILURE),
    ("BOOT_FAIL", "0:0", "", T, Why.NODE_FAILURE),
    ("PREEMPTED", "0:0", "", T, Why.CANCELLED),
    ("REVOKED", "0:0", "", T, Why.UNKNOWN),
    ("RUNING", "0:0", "", State.UNKNOWN, None),
    ("WAITING_FOR_GODOT", "0:0", "", State.UNKNOWN, None),
    ("", "0:0", "", State.UNKNOWN, None),
]


@pytest.mark.parametrize(("raw", "exitcode", "reason", "state", "why"), STATE_CASES)
def test_every_state_word(raw: str, exitcode: str, reason: str, state: State,
                          why: Why | None) -> None:
    """Each Slurm state word (squeue(1) JOB STATE CODES) through a sacct line."""
    [report] = parse_sacct(f"1|{raw}|{exitcode}|00:00:01|00:00:01||{reason}\n")
    assert (report.state, report.reason, report.raw_state) == (state, why, raw)
    if state == State.UNKNOWN:
        assert report.message and (raw or "no state") in report.message
    if state == S and "eld" in reason:
        assert report.message == reason
    if state != T:
        assert report.exitcode is None and report.signal is None


def test_state_table_is_fully_tested() -> None:
    """Every state word the parser knows appears in STATE_CASES."""
    assert set(STATES) <= {case[0] for case in STATE_CASES}
    assert set(COMPACT_STATES.values()) == set(STATES)


@pytest.mark.parametrize(("code", "word"), sorted(COMPACT_STATES.items()))
def test_compact_codes(code: str, word: str) -> None:
    """squeue %t codes map like their long words."""
    assert slurm_state(code, "", 0, None) == slurm_state(word, "", 0, None)


@pytest.mark.parametrize(("raw", "message"), [
    ("CANCELLED by 1000", "cancelled by uid 1000"),
    ("PREEMPTED", "preempted"),
    ("DEADLINE", "reached its deadline"),
    ("NODE_FAIL", "a node of the job failed"),
    ("BOOT_FAIL", "a node of the job failed to boot"),
    ("REVOKED", "revoked: a federation sibling of this job ran on another cluster"),
])
def test_state_messages(raw: str, message: str) -> None:
    """States whose reason loses detail say it in the message."""
    assert slurm_state(raw)[2] == message


# --- values ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("0:0", (0, None)), ("3:0", (3, None)), ("0:9", (None, 9)), ("0:15", (None, 15)),
    ("255:0", (255, None)), ("1:9", (None, 9)), ("", (None, None)), (" 2:0 ", (2, None)),
])
def test_exit_codes(text: str, expected: tuple[int | None, int | None]) -> None:
    """Slurm ExitCode is code:signal; a signalled process has no exit code."""
    assert parse_exit_code(text) == expected


@pytest.mark.parametrize(("text", "kib"), [
    ("123K", 123), ("71180K", 71180), ("72.50M", 74240), ("1.5G", 1536 * 1024),
    ("2T", 2 * 1024**3), ("0", 0), ("1024", 1), ("183612k", 183612),
])
def test_memory_binary_units(text: str, kib: int) -> None:
    """MaxRSS suffixes K/M/G/T are powers of 1024; no suffix is bytes."""
    assert parse_slurm_memory(text) == Memory(kib * 1024)


def test_memory_empty() -> None:
    """An empty MaxRSS (a running or too-short step) is unknown."""
    assert parse_slurm_memory("") is None
    assert parse_slurm_memory("  ") is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("00:00:00", 0), ("00:01:31", 91), ("1-00:00:00", 86400), ("2-12:30:15", 217815),
    ("64:26:16", 231976), ("00:24.041", 24.041), ("58:10.420", 3490.42), ("0:00", 0),
    ("32:10", 1930), ("23:30:20", 84620), ("01:02:03.5", 3723.5), ("1-02", 93600),
    ("1-02:03", 93780),
])
def test_durations(text: str, seconds: float) -> None:
    """Slurm times: [D-]HH:MM:SS[.fff] and MM:SS[.fff] (sacct TotalCPU, squeue %M)."""
    duration = parse_slurm_duration(text)
    assert duration is not None and duration.seconds == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "UNLIMITED", "INVALID", "NOT_SET", "N/A", "Partition_Limit"])
def test_durations_without_value(text: str) -> None:
    """Words Slurm prints instead of a time give None."""
    assert parse_slurm_duration(text) is None


@pytest.mark.parametrize(("text", "job_id"), [
    ("123\n", "123"), ("123;cluster\n", "123"), ("  77  ", "77"),
    ("sbatch: warning: can't honor --ntasks-per-node\n456\n", "456"),
    ("456\nsbatch: warning: something after\n", "456"),
    ("Submitted batch job 789\n", "789"), ("Submitted batch job 789 on cluster c1\n", "789"),
    ("6\n", "6"),  # captured on the project's CI Slurm 22.05 (sbatch --parsable)
])
def test_sbatch_ids(text: str, job_id: str) -> None:
    """sbatch --parsable prints 'id' or 'id;cluster'; warnings may share the stream."""
    assert parse_sbatch_id(text) == job_id


@pytest.mark.parametrize(("native_id", "tasks"), [
    ("123_[1-5]", ["123_1", "123_2", "123_3", "123_4", "123_5"]),
    ("123_[1-3,7%2]", ["123_1", "123_2", "123_3", "123_7"]),
    ("123_[0-6:2]", ["123_0", "123_2", "123_4", "123_6"]),
    ("123_4", ["123_4"]), ("123", ["123"]),
])
def test_expand_array_id(native_id: str, tasks: list[str]) -> None:
    """Array ranges as squeue/sacct print them; %N is a throttle, :N a step."""
    assert expand_array_id(native_id) == tasks


def test_max_array_size_from_scontrol_show_config() -> None:
    """The test cluster's MaxArraySize; a cluster without arrays (0) or a listing without
    the key is a ValueError saying so."""
    assert parse_max_array_size(read("ci2205-scontrol-show-config.txt")) == 500
    with pytest.raises(ValueError, match=r"no job arrays \(MaxArraySize = 0\)"):
        parse_max_array_size("MaxArraySize            = 0\nMaxJobCount = 10000\n")
    with pytest.raises(ValueError, match="shows no MaxArraySize"):
        parse_max_array_size("MaxJobCount = 10000\n")


# --- malformed input ------------------------------------------------------

@pytest.mark.parametrize(("function", "text"), [
    (parse_exit_code, "abc"), (parse_exit_code, "3"), (parse_exit_code, "-1:0"),
    (parse_slurm_duration, "abc"), (parse_slurm_duration, "5"), (parse_slurm_duration, "1:2:3:4"),
    (parse_slurm_duration, "1-02.5"), (parse_slurm_memory, "12000Mn"),
    (parse_slurm_memory, "-1K"), (parse_slurm_memory, "K"), (parse_slurm_memory, "1.5X"),
    (parse_sbatch_id, ""), (parse_sbatch_id, "sbatch: error: Batch job submission failed: "
                                             "Invalid account"),
    (expand_array_id, "123_[a-b]"),
])
def test_bad_values_raise_value_error_naming_the_text(function, text: str) -> None:
    """Unparsable values: ValueError that quotes the text."""
    with pytest.raises(ValueError) as error:
        function(text)
    assert repr(text.strip())[1:-1][:20] in str(error.value)


@pytest.mark.parametrize(("function", "text"), [
    (parse_sacct, "1|RUNNING|0:0\n"),                       # too few fields
    (parse_squeue, "1|RUNNING\n"),                          # too few columns
    (parse_scontrol_show_job, "slurm_load_jobs error: Invalid job id specified\n"),
    (parse_scontrol_show_job, "JobId=1\n   just words\n"),
])
def test_bad_lines_raise_value_error(function, text: str) -> None:
    """Lines of the wrong shape: ValueError naming the line."""
    with pytest.raises(ValueError, match=r"line|JobId"):
        function(text)


def test_bad_formats_raise_value_error() -> None:
    """A format without job id or state, or without separators, cannot be parsed."""
    with pytest.raises(ValueError, match="needs"):
        parse_squeue("1\n", "%i")
    with pytest.raises(ValueError, match="separator"):
        parse_squeue("1R\n", "%i%T")
    with pytest.raises(ValueError, match="JobID"):
        parse_sacct("RUNNING\n", "State")


def test_bad_fields_in_listings_become_none_with_a_message() -> None:
    """One odd value must not lose the poll of every job: it is None and explained."""
    [report] = parse_sacct("9|FAILED|x:y|soon|00:01.000|lots|None\n")
    assert (report.state, report.exitcode, report.signal, report.walltime,
            report.max_memory) == (State.TERMINATED, None, None, None, None)
    assert report.reason == Why.UNKNOWN  # no exit code known: exited or signalled?
    assert report.message and "'x:y'" in report.message and "'soon'" in report.message
    assert "'lots'" in report.message
    [block] = parse_scontrol_show_job("JobId=3 JobName=x\n   RunTime=forever\n")
    assert (block.state, block.walltime) == (State.UNKNOWN, None)
    assert block.message and "no state" in block.message and "forever" in block.message


def test_empty_outputs() -> None:
    """No jobs: empty lists (scontrol's 'No jobs in the system' too)."""
    assert parse_squeue("") == []
    assert parse_sacct("\n") == []
    assert parse_sacct("JobID|State\n") == []
    assert parse_scontrol_show_job("No jobs in the system\n") == []


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.txt")))
def test_truncated_fixtures_never_crash(name: str) -> None:
    """Any prefix of a real output parses or raises ValueError, nothing else."""
    text = read(name)
    parser = (parse_sinfo if "sinfo" in name
              else (lambda text: count_jobs(text, "root")) if "load" in name
              else parse_squeue if name.startswith(("squeue", "ci2205-squeue"))
              else parse_sacct if "sacct" in name else parse_scontrol_show_job)
    for end in range(0, len(text), 7):
        with contextlib.suppress(ValueError):
            parser(text[:end])
