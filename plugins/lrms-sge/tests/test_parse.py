"""Tests of lrms_sge.parse against recorded and captured Grid Engine output.

Every fixture in ``tests/data`` parses to exactly the facts its ``SOURCES.md``
entry names.  Files named ``ci-*`` were captured on the project's CI SGE 8.1.9
cell; the others were recorded at real sites (see SOURCES.md).  Inline inputs
are marked as synthetic, in the format of the version named.
"""

from __future__ import annotations

import contextlib
import pathlib
import sys

import pytest

from lrms import Duration, Memory, State, TerminationReason
from lrms_sge.parse import (
    JobCounts,
    Usage,
    expand_task_ranges,
    map_state,
    parse_cluster_slots,
    parse_free_consumable,
    parse_job_counts,
    parse_max_aj_tasks,
    parse_qacct,
    parse_qacct_accounts,
    parse_qstat_j,
    parse_qstat_xml,
    parse_qsub_terse,
    qacct_outcome,
)

DATA = pathlib.Path(__file__).parent / "data"
MIB = 1024**2


def read(name: str) -> str:
    return (DATA / name).read_text()


def mib(value: float) -> Memory:
    return Memory(round(value * MIB))


def states(reports):
    return [(r.native_id, r.state, r.raw_state, r.message) for r in reports]


# ---------------------------------------------------------------------------------------
# fixtures: qstat -xml


def test_qstat_xml_sge6_r_qw_hqw():
    """Sun Grid Engine 6.x, ``qstat -ext -urg -xml`` (aiida-core test data, 2013)."""
    assert states(parse_qstat_xml(read("qstat-xml-r-qw-hqw.xml"))) == [
        ("1212299", State.RUNNING, "r", None),
        ("1212263", State.SUBMITTED, "qw", None),
        ("1212322", State.STOPPED, "hqw", "held"),
    ]


def test_qstat_xml_ci_mixed_states_and_array_range():
    """Captured on the project's CI SGE 8.1.9 cell: r, qw, Eqw, hqw and an array range."""
    reports = parse_qstat_xml(read("ci-qstat-xml-r-qw-Eqw-hqw-array.xml"))
    assert states(reports) == [
        ("6", State.RUNNING, "r", None),
        ("10.1", State.RUNNING, "r", None),
        ("8", State.SUBMITTED, "qw", None),
        ("9", State.STOPPED, "Eqw", "error"),
        *[(f"10.{t}", State.SUBMITTED, "qw", None) for t in range(2, 7)],
        ("11", State.SUBMITTED, "qw", None),
        ("7", State.STOPPED, "hqw", "held"),
    ]
    assert all(r.exitcode is None and r.reason is None for r in reports)


def test_qstat_xml_ci_suspended_and_transferring():
    """Captured on the project's CI SGE 8.1.9 cell after ``qmod -sj 10.1``: s and t."""
    assert states(parse_qstat_xml(read("ci-qstat-xml-s-t-array.xml"))) == [
        ("10.1", State.STOPPED, "s", "suspended"),
        ("10.3", State.RUNNING, "t", None),
        ("8", State.SUBMITTED, "qw", None),
        *[(f"10.{t}", State.SUBMITTED, "qw", None) for t in (4, 5, 6)],
        ("11", State.SUBMITTED, "qw", None),
        ("9", State.STOPPED, "Eqw", "error"),
        ("12", State.SUBMITTED, "qw", None),
        ("7", State.STOPPED, "hqw", "held"),
    ]


def test_qstat_f_xml_ci_full_queue():
    """Captured on the project's CI SGE 8.1.9 cell: ``qstat -f -xml`` with both slots used."""
    text = read("ci-qstat-f-xml-full.xml")
    assert parse_cluster_slots(text) == (2, 2)
    assert states(parse_qstat_xml(text)) == [
        ("10.1", State.RUNNING, "r", None),
        ("10.2", State.RUNNING, "t", None),
        ("8", State.SUBMITTED, "qw", None),
        ("9", State.STOPPED, "Eqw", "error"),
        *[(f"10.{t}", State.SUBMITTED, "qw", None) for t in range(3, 7)],
        ("11", State.SUBMITTED, "qw", None),
        ("7", State.STOPPED, "hqw", "held"),
    ]


def test_qstat_f_F_gpu_ci_free_consumable():
    """Captured on the project's CI SGE 8.1.9 cell: ``qstat -f -F gpu -xml`` while a job
    holds one of the host's two GPUs."""
    text = read("ci-qstat-f-F-gpu.xml")
    assert parse_free_consumable(text, "gpu") == 1
    assert parse_free_consumable(text, "nosuch") is None
    assert parse_cluster_slots(text) == (1, 2)
    two_hosts = text.replace("</queue_info>", (
        "<Queue-List><name>other.q@vm</name><resource name='gpu' type='hc'>0</resource>"
        "</Queue-List><Queue-List><name>all.q@h2</name><resource name='gpu' type='hc'>"
        "4.000000</resource></Queue-List><Queue-List><name>all.q@h3</name><state>d</state>"
        "<resource name='gpu' type='hc'>4</resource></Queue-List></queue_info>"))
    assert parse_free_consumable(two_hosts, "gpu") == 4   # vm: the least, 0; h3 disabled


def test_qstat_f_xml_ci_deletion_in_progress():
    """Captured on the project's CI SGE 8.1.9 cell: a ``qdel``'d running job left in dr."""
    text = read("ci-qstat-f-xml-dr.xml")
    assert parse_cluster_slots(text) == (1, 2)
    assert states(parse_qstat_xml(text)) == [
        ("24", State.TERMINATING, "dr", "deletion in progress"),
        ("8", State.SUBMITTED, "qw", None),
        ("9", State.STOPPED, "Eqw", "error"),
        ("7", State.STOPPED, "hqw", "held"),
    ]


# ---------------------------------------------------------------------------------------
# fixtures: qstat -j


def test_qstat_j_sge6_usage():
    """Sun Grid Engine 6.x at IN2P3-CC, ``qstat -j`` of a running job (DIRAC test data)."""
    jobs = parse_qstat_j(read("qstat-j-running-usage.txt"))
    assert list(jobs) == ["12345"]
    job = jobs["12345"]
    assert job.fields["owner"] == "lhcb049"
    assert job.fields["hard resource_list"] == (
        "os=sl5,s_cpu=1000,s_vmem=5120M,s_fsize=51200M,cvmfs=1,dcache=1")
    assert job.fields["scheduling info"] == (
        "(Collecting of scheduler job information is turned off)")
    assert job.errors == {} and job.error_reason is None
    assert job.usage == {1: Usage(walltime=None, cputime=Duration(60), max_memory=mib(288.609))}


def test_qstat_j_ci_error_reason():
    """Captured on the project's CI SGE 8.1.9 cell: ``qstat -j`` of an Eqw job (bad -wd)."""
    job = parse_qstat_j(read("ci-qstat-j-Eqw.txt"))["9"]
    reason = "error: can't chdir to /nonexistent/lrms: No such file or directory"
    assert job.errors == {1: reason}
    assert job.error_reason == reason
    assert job.fields["cwd"] == "/nonexistent/lrms"
    assert job.fields["scheduling info"] == (
        'queue instance "all.q@vm" dropped because it is full\n'
        "All queues dropped because of overload or full\n"
        "Job is in error state")
    assert job.usage == {}


def test_qstat_j_ci_array_usage():
    """Captured on the project's CI SGE 8.1.9 cell: ``qstat -j`` of a running array job."""
    job = parse_qstat_j(read("ci-qstat-j-array-usage.txt"))["10"]
    assert job.fields["job-array tasks"] == "1-6:1"
    assert job.fields["binding 1"] == "NONE"
    assert job.errors == {}
    assert job.usage == {
        1: Usage(walltime=None, cputime=Duration(0), max_memory=mib(3.465)),
        2: Usage(walltime=None, cputime=Duration(0), max_memory=None),
    }


# ---------------------------------------------------------------------------------------
# fixtures: qacct -j


def outcome(report):
    return (report.native_id, report.state, report.reason, report.exitcode, report.signal)


def test_qacct_sge819_units():
    """Son of Grid Engine 8.1.9 at JHPCE, suffixed units (LieberInstitute/sgejobs data)."""
    [r] = parse_qacct(read("qacct-units-single.txt"))
    assert outcome(r) == ("92500", State.TERMINATED, TerminationReason.EXITED, 0, None)
    assert (r.walltime, r.cputime) == (Duration(43), Duration(1.559))
    assert r.max_memory == mib(5.867) and r.max_memory.bytes == 6151995
    assert r.message is None and r.raw_state == "failed=0 exit_status=0"


def test_qacct_bcgsc_failed100_killed():
    """Grid Engine 8.1.x-style output at BCGSC (MAVIS test data): failed 100, 137 (Killed)."""
    [r] = parse_qacct(read("qacct-failed100-killed.txt"))
    assert outcome(r) == ("3757249", State.TERMINATED, TerminationReason.CANCELLED, None, 9)
    assert (r.walltime, r.cputime, r.max_memory) == (Duration(24), Duration(0.14), mib(1.934))
    assert r.message == "failed 100: assumedly after job"


def test_qacct_bcgsc_exit1():
    """Grid Engine 8.1.x-style output at BCGSC (MAVIS test data): exit status 1."""
    [r] = parse_qacct(read("qacct-exit1.txt"))
    assert outcome(r) == ("3755560", State.TERMINATED, TerminationReason.EXITED, 1, None)
    assert (r.walltime, r.cputime, r.max_memory) == (Duration(60), Duration(0.142), mib(1.926))


def test_qacct_sge6_unitless():
    """Sun Grid Engine 6.x (GC3Pie test data, 2012): bare seconds and a bare binary ``M``."""
    [r] = parse_qacct(read("qacct-old-format-nounits.txt"))
    assert outcome(r) == ("123", State.TERMINATED, TerminationReason.EXITED, 0, None)
    assert (r.walltime, r.cputime) == (Duration(10), Duration(0.248))
    assert r.max_memory.bytes == 13790872


def test_qacct_ci_exit3():
    """Captured on the project's CI SGE 8.1.9 cell: a script ending ``exit 3``."""
    [r] = parse_qacct(read("ci-qacct-exit3.txt"))
    assert outcome(r) == ("19", State.TERMINATED, TerminationReason.EXITED, 3, None)
    assert (r.walltime, r.cputime, r.max_memory) == (Duration(2), Duration(0.006), mib(3.395))
    assert r.message is None and r.raw_state == "failed=0 exit_status=3"


def test_qacct_accounts_ci_with_summary_table():
    """Captured on the CI cell: ``qacct -A ACCOUNT -j`` ends with a summary table."""
    text = read("ci-qacct-A-account.txt")
    assert parse_qacct_accounts(text) == [("1433", "lrms_abc-123")]
    assert parse_qacct_accounts(read("ci-qacct-exit3.txt")) == [("19", "sge")]
    assert parse_qacct_accounts("error: job id 5 not found\n") == []


def test_qacct_ci_h_rt_failed37():
    """Captured on the project's CI SGE 8.1.9 cell: ``-l h_rt=4`` job killed, failed 37."""
    [r] = parse_qacct(read("ci-qacct-h_rt-failed37.txt"))
    assert outcome(r) == ("6", State.TERMINATED, TerminationReason.WALLTIME_EXCEEDED, None, 9)
    assert (r.walltime, r.cputime, r.max_memory) == (Duration(5), Duration(0.009), mib(3.469))
    assert r.message == "failed 37: qmaster enforced h_rt, h_cpu, or h_vmem limit"


def test_qacct_ci_h_cpu_failed100():
    """Captured on the project's CI SGE 8.1.9 cell: ``-l h_cpu=3`` busy loop, failed 100."""
    [r] = parse_qacct(read("ci-qacct-h_cpu-failed100.txt"))
    assert outcome(r) == ("23", State.TERMINATED, TerminationReason.WALLTIME_EXCEEDED, None, 9)
    assert (r.walltime, r.cputime, r.max_memory) == (Duration(3), Duration(2.979), mib(1.598))


def test_qacct_ci_array_with_qdel_task():
    """Captured on the project's CI SGE 8.1.9 cell: ``-t 1-6`` array, task 2 ``qdel``'d."""
    reports = parse_qacct(read("ci-qacct-array-qdel-task.txt"))
    assert [outcome(r) for r in reports] == [
        ("10.2", State.TERMINATED, TerminationReason.CANCELLED, None, 9),
        *[(f"10.{t}", State.TERMINATED, TerminationReason.EXITED, 0, None)
          for t in (1, 3, 4, 5, 6)],
    ]
    assert [r.walltime for r in reports] == [Duration(5)] + [Duration(20)] * 5
    assert reports[0].cputime == Duration(0.01)
    assert [r.max_memory for r in reports] == [
        mib(v) for v in (3.410, 3.465, 3.410, 3.434, 3.430, 3.426)]


def test_qacct_ci_self_sigkill_looks_like_qdel():
    """Captured on the project's CI SGE 8.1.9 cell: a job that SIGKILLs itself.

    qacct records the same failed 100 / 137 as for ``qdel``: reported as CANCELLED.
    """
    [r] = parse_qacct(read("ci-qacct-sigkill-failed100.txt"))
    assert outcome(r) == ("20", State.TERMINATED, TerminationReason.CANCELLED, None, 9)


def test_qacct_ci_self_sigterm():
    """Captured on the project's CI SGE 8.1.9 cell: a job that SIGTERMs itself (143)."""
    [r] = parse_qacct(read("ci-qacct-sigterm-failed100.txt"))
    assert outcome(r) == ("21", State.TERMINATED, TerminationReason.SIGNALLED, None, 15)
    assert r.walltime == Duration(0)


def test_qacct_ci_working_directory_failed28():
    """Captured on the project's CI SGE 8.1.9 cell: ``-wd /nonexistent/lrms``, failed 28."""
    [r] = parse_qacct(read("ci-qacct-wd-failed28.txt"))
    assert outcome(r) == ("9", State.TERMINATED, TerminationReason.SUBMISSION_FAILED, None, None)
    assert r.message == "failed 28: changing into working directory"


def test_qacct_ci_h_vmem_exit1():
    """Captured on the project's CI SGE 8.1.9 cell: allocation over ``h_vmem`` fails, exit 1."""
    [r] = parse_qacct(read("ci-qacct-h_vmem-exit1.txt"))
    assert outcome(r) == ("22", State.TERMINATED, TerminationReason.EXITED, 1, None)
    assert r.max_memory == Memory(0)


def test_max_aj_tasks_ci():
    """Captured on the project's CI SGE 8.1.9 cell: ``qconf -sconf``; 0 is no limit."""
    assert parse_max_aj_tasks(read("ci-qconf-sconf.txt")) == 100
    assert parse_max_aj_tasks("max_aj_instances 2000\nmax_aj_tasks 0\n") == sys.maxsize
    with pytest.raises(ValueError, match="no max_aj_tasks in qconf -sconf output"):
        parse_max_aj_tasks("error: commlib error\n")


def test_qsub_terse_ci_array():
    """Captured on the project's CI SGE 8.1.9 cell: ``qsub -terse -t 1-6``."""
    assert parse_qsub_terse(read("ci-qsub-terse-array.txt")) == "10.1-6:1"


# ---------------------------------------------------------------------------------------
# every state word (sge_status(5) of SoGE 8.1.9; inputs synthetic)

S, R, ST, TG = State.SUBMITTED, State.RUNNING, State.STOPPED, State.TERMINATING


@pytest.mark.parametrize(("word", "state", "message"), [
    ("qw", S, None), ("Rq", S, None), ("w", S, None),
    ("hqw", ST, "held"), ("hRwq", ST, "held"), ("hRqw", ST, "held"),
    ("r", R, None), ("hr", R, None), ("t", R, None), ("Rr", R, None), ("Rt", R, None),
    ("s", ST, "suspended"), ("ts", ST, "suspended"), ("Rs", ST, "suspended"),
    ("Rts", ST, "suspended"),
    ("S", ST, "suspended (queue suspended)"), ("tS", ST, "suspended (queue suspended)"),
    ("RS", ST, "suspended (queue suspended)"), ("RtS", ST, "suspended (queue suspended)"),
    ("T", ST, "suspended (suspend threshold)"), ("tT", ST, "suspended (suspend threshold)"),
    ("RT", ST, "suspended (suspend threshold)"), ("RtT", ST, "suspended (suspend threshold)"),
    ("Eqw", ST, "error"), ("Ehqw", ST, "error"), ("EhRqw", ST, "error"),
    ("dr", TG, "deletion in progress"), ("dt", TG, "deletion in progress"),
    ("dRr", TG, "deletion in progress"), ("dRt", TG, "deletion in progress"),
    ("ds", TG, "deletion in progress"), ("dS", TG, "deletion in progress"),
    ("dT", TG, "deletion in progress"), ("dRs", TG, "deletion in progress"),
    ("dRS", TG, "deletion in progress"), ("dRT", TG, "deletion in progress"),
    ("z", State.TERMINATED, "finished"),
])
def test_every_state_word(word, state, message):
    """Every state of the sge_status(5) table (SoGE 8.1.9 man page); synthetic words."""
    assert map_state(word) == (state, message)


@pytest.mark.parametrize("word", ["", "R", "X", "qwX", "Pr", "running", "?"])
def test_unknown_state_words(word):
    """Words Grid Engine 8.1.9 never prints (synthetic): UNKNOWN with a message."""
    state, message = map_state(word)
    assert state == State.UNKNOWN
    assert message == f"unknown Grid Engine state {word!r}"


def test_error_job_is_never_submitted():
    """Synthetic SoGE 8.1.9 ``qstat -xml``: every error word is STOPPED."""
    for word in ("Eqw", "Ehqw", "EhRqw", "Ew", "Eq"):
        assert map_state(word)[0] == State.STOPPED


def job_xml(state: str, tasks: str | None = None, where: str = "job_info") -> str:
    tasks_xml = f"<tasks>{tasks}</tasks>" if tasks else ""
    job = (f'<job_list state="x"><JB_job_number>42</JB_job_number><state>{state}</state>'
           f"{tasks_xml}</job_list>")
    return f"<?xml version='1.0'?><job_info><queue_info/><{where}>{job}</{where}></job_info>"


def test_unknown_state_in_xml_is_a_report_not_an_error():
    """Synthetic SoGE 8.1.9-format ``qstat -xml`` with an invented state word."""
    [r] = parse_qstat_xml(job_xml("Px"))
    assert (r.native_id, r.state, r.raw_state) == ("42", State.UNKNOWN, "Px")
    assert r.message == "unknown Grid Engine state 'Px'"


def test_zombie_in_xml_is_terminated_with_unknown_reason():
    """Synthetic ``qstat -s z -xml`` entry: finished, outcome only in qacct."""
    [r] = parse_qstat_xml(job_xml("z"))
    assert (r.state, r.reason, r.exitcode) == (State.TERMINATED, TerminationReason.UNKNOWN, None)


def test_pending_task_list_with_step_and_commas():
    """Synthetic SoGE 8.1.9 ``qstat -xml``: a pending range list ``1-5:2,8``."""
    reports = parse_qstat_xml(job_xml("hqw", "1-5:2,8"))
    assert [r.native_id for r in reports] == ["42.1", "42.3", "42.5", "42.8"]
    assert {(r.state, r.message) for r in reports} == {(State.STOPPED, "held")}


def test_empty_qstat_xml():
    """SoGE 8.1.9 ``qstat -xml`` with no jobs (synthetic, same layout as the CI cell's)."""
    text = "<?xml version='1.0'?>\n<job_info>\n  <queue_info>\n  </queue_info>\n" \
           "  <job_info>\n  </job_info>\n</job_info>\n"
    assert parse_qstat_xml(text) == []


# ---------------------------------------------------------------------------------------
# failed codes (synthetic records in the SoGE 8.1.9 qacct format)

E = TerminationReason


def rec(failed: str, status: str = "0", category: str = "NONE", **usage: str) -> dict[str, str]:
    record = {"failed": failed, "exit_status": status, "category": category,
              "ru_wallclock": "10s", "cpu": "1.000s", "maxvmem": "10.000MB"}
    record.update(usage)
    return record


@pytest.mark.parametrize(("record", "expected"), [
    # failed 0: the script's own exit code, even above 128
    (rec("0", "0"), (State.TERMINATED, E.EXITED, 0, None)),
    (rec("0", "3"), (State.TERMINATED, E.EXITED, 3, None)),
    (rec("0", "137"), (State.TERMINATED, E.EXITED, 137, None)),
    (rec("0", "255"), (State.TERMINATED, E.EXITED, 255, None)),
    # never ran
    *[(rec(f"{code} : x"), (State.TERMINATED, E.SUBMISSION_FAILED, None, None))
      for code in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 26, 27, 28, 29, 31, 32, 33, 34, 35, 36, 38)],
    # ran, failed afterwards: the job's own result stands
    *[(rec(f"{code} : x", "2"), (State.TERMINATED, E.EXITED, 2, None)) for code in range(12, 17)],
    (rec("17 : through signal", "137"), (State.TERMINATED, E.CANCELLED, None, 9)),
    *[(rec(f"{code} : x"), (State.TERMINATED, E.NODE_FAILURE, None, None))
      for code in (18, 19, 20, 21)],
    (rec("24 : migrating"), (State.SUBMITTED, None, None, None)),
    (rec("25 : rescheduling"), (State.SUBMITTED, None, None, None)),
    (rec("30 : application error returned", "100"), (State.TERMINATED, E.EXITED, 100, None)),
    # 37: which limit
    (rec("37  : qmaster enforced h_rt, h_cpu, or h_vmem limit", "137", "-l h_rt=4",
         ru_wallclock="5s"), (State.TERMINATED, E.WALLTIME_EXCEEDED, None, 9)),
    (rec("37 : x", "137", "-l h_rt=3600,h_vmem=1G", ru_wallclock="100s", maxvmem="1.000GB"),
     (State.TERMINATED, E.MEMORY_EXCEEDED, None, 9)),
    (rec("37 : x", "137", "-l h_vmem=1G", maxvmem="0.000B"),
     (State.TERMINATED, E.MEMORY_EXCEEDED, None, 9)),
    (rec("37 : x", "137", "NONE"), (State.TERMINATED, E.WALLTIME_EXCEEDED, None, 9)),
    (rec("37 : x", "152", "-l h_cpu=60", cpu="60.000s"),
     (State.TERMINATED, E.WALLTIME_EXCEEDED, None, 24)),
    # 100: signal deaths
    (rec("100 : assumedly after job", "137"), (State.TERMINATED, E.CANCELLED, None, 9)),
    (rec("100 : assumedly after job", "143"), (State.TERMINATED, E.SIGNALLED, None, 15)),
    (rec("100 : assumedly after job", "139"), (State.TERMINATED, E.SIGNALLED, None, 11)),
    (rec("100 : assumedly after job", "137", "-u me -l h_rt=00:01:00", ru_wallclock="60s"),
     (State.TERMINATED, E.WALLTIME_EXCEEDED, None, 9)),
    (rec("100 : assumedly after job", "137", "-l h_rt=00:01:00", ru_wallclock="20s"),
     (State.TERMINATED, E.CANCELLED, None, 9)),
    (rec("100 : assumedly after job", "137", "-l h_vmem=100M", maxvmem="99.500MB"),
     (State.TERMINATED, E.MEMORY_EXCEEDED, None, 9)),
    (rec("100 : assumedly after job", "137", "-l h_vmem=100m", maxvmem="95.000MB"),
     (State.TERMINATED, E.MEMORY_EXCEEDED, None, 9)),
    (rec("100 : assumedly after job", "0"), (State.TERMINATED, E.NODE_FAILURE, None, None)),
    # unknown code
    (rec("99 : something new", "0"), (State.TERMINATED, E.UNKNOWN, None, None)),
])
def test_failed_codes(record, expected):
    """The sge_status(5) failed-code table (SoGE 8.1.9); synthetic qacct records."""
    state, reason, exitcode, signal, _ = qacct_outcome(record)
    assert (state, reason, exitcode, signal) == expected


def test_failed_code_message():
    """Synthetic SoGE 8.1.9 record: the failed text becomes the message."""
    assert qacct_outcome(rec("26 : opening output file"))[4] == "failed 26: opening output file"
    assert qacct_outcome(rec("0"))[4] is None


@pytest.mark.parametrize("record", [
    rec("zero"), rec("0", "none"), {"exit_status": "0"}, rec(""),
])
def test_unreadable_failed_or_exit_status(record):
    """Synthetic garbage in a SoGE 8.1.9-format record: UNKNOWN with a message."""
    state, reason, exitcode, signal, message = qacct_outcome(record)
    assert (state, reason, exitcode, signal) == (State.UNKNOWN, None, None, None)
    assert message.startswith("unreadable qacct record")


# ---------------------------------------------------------------------------------------
# usage units: SoGE 8.1.x suffixed and Sun GE 6.x unit-less forms (synthetic records)

QACCT = """==============================================================
qname        all.q
jobnumber    77
taskid       {taskid}
failed       0
exit_status  0
ru_wallclock {wall}
cpu          {cpu}
maxvmem      {maxvmem}
"""


@pytest.mark.parametrize(("wall", "cpu", "maxvmem", "expected"), [
    ("43s", "1.559s", "5.867MB", (43, 1.559, round(5.867 * MIB))),       # SoGE 8.1.x
    ("43", "1.559", "5.867M", (43, 1.559, round(5.867 * MIB))),           # Sun GE 6.x
    ("3600s", "0.000s", "1.2GB", (3600, 0, round(1.2 * 1024**3))),
    ("0s", "0.000s", "0.000B", (0, 0, 0)),
    ("0", "0.000", "0.000", (0, 0, 0)),
    ("5s", "0.009s", "46.137KB", (5, 0.009, round(46.137 * 1024))),
    ("5", "0.009", "512.000", (5, 0.009, 512)),
    ("7s", "7.5s", "1.000TB", (7, 7.5, 1024**4)),
])
def test_usage_unit_forms(wall, cpu, maxvmem, expected):
    """ru_wallclock / cpu / maxvmem in both qacct forms; K/M/G/T are binary (synthetic)."""
    [r] = parse_qacct(QACCT.format(taskid="undefined", wall=wall, cpu=cpu, maxvmem=maxvmem))
    assert (r.walltime.seconds, r.cputime.seconds, r.max_memory.bytes) == pytest.approx(expected)


def test_unparseable_usage_is_none():
    """Synthetic SoGE 8.1.9 record with unreadable usage values: None, not an error."""
    [r] = parse_qacct(QACCT.format(taskid="3", wall="soon", cpu="-", maxvmem="lots"))
    assert (r.native_id, r.walltime, r.cputime, r.max_memory) == ("77.3", None, None, None)
    assert r.reason == TerminationReason.EXITED


@pytest.mark.parametrize(("usage", "expected"), [
    ("cpu=00:01:00, mem=0.03044 GBs, io=0.19846, vmem=288.609M, maxvmem=288.609M",
     Usage(None, Duration(60), Memory(round(288.609 * MIB)))),
    ("cpu=1:02:03:04, mem=0.00000 GB s, io=0.00000 GB, vmem=N/A, maxvmem=N/A",
     Usage(None, Duration(93784), None)),
    ("wallclock=00:00:10,cpu=00:00:02,mem=0.00 GBs,io=0.00,vmem=1.000G,maxvmem=2.000G",
     Usage(Duration(10), Duration(2), Memory(2 * 1024**3))),
    ("cpu=00:00:00, maxvmem=512.000K", Usage(None, Duration(0), Memory(512 * 1024))),
])
def test_qstat_j_usage_forms(usage, expected):
    """``usage N:`` lines of Sun GE 6.x, SoGE 8.1.9 and newer (synthetic job blocks)."""
    text = f"==============================================================\n" \
           f"job_number:                 5\nusage    1:                 {usage}\n"
    assert parse_qstat_j(text)["5"].usage == {1: expected}


def test_qstat_j_several_jobs_and_tasks():
    """Synthetic SoGE 8.1.9 ``qstat -j 5,6``: two blocks, errors of two tasks."""
    sep = "=" * 62
    text = (f"{sep}\njob_number:                 5\njob_name:                   a\n"
            f"{sep}\njob_number:                 6\n"
            "error reason    3:          01/02/2026 10:00:00 [1000:77]: error: no shell\n"
            "error reason    1:          plain text without a stamp\n")
    jobs = parse_qstat_j(text)
    assert list(jobs) == ["5", "6"]
    assert jobs["5"].error_reason is None
    assert jobs["6"].errors == {3: "error: no shell", 1: "plain text without a stamp"}
    assert jobs["6"].error_reason == "plain text without a stamp"


def test_qstat_j_no_such_job():
    """SoGE 8.1.9 ``qstat -j 999`` message (synthetic): no job, no error."""
    assert parse_qstat_j("Following jobs do not exist: \n999\n") == {}
    assert parse_qstat_j("") == {}


# ---------------------------------------------------------------------------------------
# qsub -terse ids


@pytest.mark.parametrize(("text", "expected"), [
    ("123\n", "123"),
    ("123", "123"),
    ("10.1-6:1\n", "10.1-6:1"),
    ("7.3-3:1\n", "7.3-3:1"),
    ("123.1-10:2\n", "123.1-10:2"),
    ("warning: root's job is not allowed to run in any queue\n124\n", "124"),
    ("124\nwarning: something after the id\n", "124"),
    ('Your job 125 ("x") has been submitted\n', "125"),
    ('Your job-array 126.1-4:1 ("x") has been submitted\n', "126.1-4:1"),
])
def test_qsub_terse_forms(text, expected):
    """``qsub -terse`` output forms of SoGE 8.1.9, warnings tolerated (synthetic)."""
    assert parse_qsub_terse(text) == expected


@pytest.mark.parametrize("text", [
    "", "\n", "Unable to run job: denied: host \"x\" is no submit host.\nExiting.\n",
    "123abc\n", "12.x\n",
])
def test_qsub_terse_without_id(text):
    """qsub failures and garbage (SoGE 8.1.9 wording, synthetic): ValueError."""
    with pytest.raises(ValueError, match="no job id in qsub output"):
        parse_qsub_terse(text)


@pytest.mark.parametrize(("spec", "tasks"), [
    ("1", [1]), ("2-6:1", [2, 3, 4, 5, 6]), ("1-10:3", [1, 4, 7, 10]),
    ("1-3:1,7,9-10", [1, 2, 3, 7, 9, 10]),
])
def test_expand_task_ranges(spec, tasks):
    """Grid Engine task range syntax as qstat -xml ``<tasks>`` prints it (synthetic)."""
    assert expand_task_ranges(spec) == tasks


@pytest.mark.parametrize("spec", ["", "a", "5-1", "1-5:0", "1-2000000", "1--2"])
def test_bad_task_ranges(spec):
    """Invalid or absurd task ranges (synthetic): ValueError."""
    with pytest.raises(ValueError, match="task range"):
        expand_task_ranges(spec)


# ---------------------------------------------------------------------------------------
# malformed input


@pytest.mark.parametrize("text", [
    "", "not xml", "<job_info><job_list>", "error: commlib error: got select error",
])
def test_qstat_xml_not_xml(text):
    """What a broken pipe or a qmaster error leaves (synthetic): ValueError."""
    with pytest.raises(ValueError, match="not valid XML"):
        parse_qstat_xml(text)


def test_qstat_xml_wrong_root():
    """Synthetic: ``qhost -xml`` given to the qstat parser."""
    with pytest.raises(ValueError, match="root <qhost>"):
        parse_qstat_xml("<qhost><host name='global'/></qhost>")


def test_qstat_xml_job_without_number():
    """Synthetic SoGE 8.1.9-format ``qstat -xml`` with a broken job_list."""
    with pytest.raises(ValueError, match="JB_job_number"):
        parse_qstat_xml("<job_info><queue_info><job_list><state>r</state></job_list>"
                        "</queue_info></job_info>")


def test_qstat_xml_bad_task_range():
    """Synthetic SoGE 8.1.9-format ``qstat -xml`` with an invalid ``<tasks>``."""
    with pytest.raises(ValueError, match="task range"):
        parse_qstat_xml(job_xml("qw", "x-y"))


def test_cluster_slots_skips_unusable_queues():
    """Synthetic SoGE 8.1.9 ``qstat -f -xml``: disabled/unknown/error instances left out."""
    def queue(name, used, resv, total, state=""):
        state_xml = f"<state>{state}</state>" if state else ""
        return (f"<Queue-List><name>{name}</name><slots_used>{used}</slots_used>"
                f"<slots_resv>{resv}</slots_resv><slots_total>{total}</slots_total>"
                f"{state_xml}</Queue-List>")
    text = ("<job_info><queue_info>" + queue("a@h1", 1, 1, 4) + queue("a@h2", 0, 0, 8, "a")
            + queue("a@h3", 2, 0, 8, "d") + queue("a@h4", 0, 0, 8, "au")
            + queue("a@h5", 0, 0, 8, "E") + "</queue_info><job_info/></job_info>")
    assert parse_cluster_slots(text) == (2, 12)


def test_cluster_slots_malformed():
    """Synthetic broken ``qstat -f -xml``: ValueError naming the queue."""
    with pytest.raises(ValueError, match="a@h1"):
        parse_cluster_slots("<job_info><queue_info><Queue-List><name>a@h1</name>"
                            "<slots_used>x</slots_used></Queue-List></queue_info></job_info>")
    with pytest.raises(ValueError, match="not valid XML"):
        parse_cluster_slots("")


def test_job_counts_ci_full_queue():
    """CI cell ``qstat -f -xml``: r and t run; qw (array range expanded) queue; Eqw, hqw neither."""
    text = read("ci-qstat-f-xml-full.xml")
    assert parse_job_counts(text, "root") == JobCounts(running=2, queued=6, user_running=2,
                                                       user_queued=6)
    assert parse_job_counts(text, "alice") == JobCounts(running=2, queued=6, user_running=0,
                                                        user_queued=0)


def test_job_counts_sge6_owner():
    """Sun GE 6.x ``qstat -xml`` (aiida-core test data): one r, one qw, one hqw of dorigm7s."""
    assert parse_job_counts(read("qstat-xml-r-qw-hqw.xml"), "dorigm7s") == JobCounts(
        running=1, queued=1, user_running=1, user_queued=1)


def test_qacct_no_records():
    """SoGE 8.1.9 ``qacct -j`` of an unknown job (message seen on the CI cell): no reports."""
    assert parse_qacct("error: job id 8 not found\n") == []
    assert parse_qacct("") == []


def test_qacct_record_without_jobnumber():
    """A truncated record (synthetic): ValueError."""
    with pytest.raises(ValueError, match="jobnumber"):
        parse_qacct("=" * 62 + "\nqname        all.q\nfailed       0\n")


def test_qacct_garbage_failed_is_unknown_report():
    """Synthetic SoGE 8.1.9 record with an unreadable failed field: UNKNOWN report."""
    text = QACCT.format(taskid="undefined", wall="1s", cpu="0s", maxvmem="0B").replace(
        "failed       0", "failed       ???")
    [r] = parse_qacct(text)
    assert (r.native_id, r.state, r.reason) == ("77", State.UNKNOWN, None)
    assert "unreadable qacct record" in r.message


def test_qstat_j_garbage_line():
    """Synthetic: a line that is neither ``key: value`` nor a continuation."""
    with pytest.raises(ValueError, match="unexpected line"):
        parse_qstat_j("=" * 62 + "\njob_number:   5\nthis is not a field\n")


def test_qstat_j_block_without_job_number():
    """Synthetic: a ``qstat -j`` block that lost its job_number line."""
    with pytest.raises(ValueError, match="job_number"):
        parse_qstat_j("=" * 62 + "\nowner:        me\n")


def test_non_finite_usage_is_none():
    """Synthetic SoGE 8.1.9 record with ``nan``/``inf`` usage and a TAB separator."""
    text = "=" * 62 + "\njobnumber 5\nfailed\t0\nexit_status 0\nru_wallclock nan\ncpu inf\n"
    [r] = parse_qacct(text)
    assert (r.native_id, r.exitcode, r.walltime, r.cputime) == ("5", 0, None, None)


PARSERS = {
    "qacct": parse_qacct, "qstat-j": parse_qstat_j, "qstat-f-xml": parse_cluster_slots,
    "xml": parse_qstat_xml, "terse": parse_qsub_terse, "qconf-sconf": parse_max_aj_tasks,
}


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.name != "SOURCES.md"))
def test_truncated_fixtures_never_crash(name):
    """Every fixture (real systems, see SOURCES.md) cut short at many points.

    Each parser either returns or raises ValueError: never another exception.
    """
    text = read(name)
    parsers = {f for key, f in PARSERS.items() if key in name}
    assert parsers
    for cut in range(0, len(text), max(1, len(text) // 97)):
        for parser in parsers:
            with contextlib.suppress(ValueError):
                parser(text[:cut])
