"""Tests for lrms_pbs.parse.

No PBS server can run here.  The fixture tests read outputs recorded on real
PBS Professional / OpenPBS and Torque systems (tests/data, attribution and the
facts each file must parse to in tests/data/SOURCES.md); every test says which
system produced its input; the ``wrapper/`` files were captured on this CI host
from Slurm's Torque compatibility wrappers (the torque flavour's end-to-end
stand-in).  The table tests use small synthetic attribute dicts built from the
reference manuals' tables.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from lrms import Duration, Memory, State, TerminationReason
from lrms_pbs.parse import (
    JOB_EXEC_CODES,
    JOB_ID,
    NODE,
    count_job_states,
    decode_exit_status,
    legal_job_name,
    max_array_size,
    node_slots,
    parse_duration,
    parse_pbsnodes,
    parse_qstat_f,
    parse_qstat_json,
    parse_qsub_id,
    parse_queue_totals,
    parse_size,
    parse_tracejob,
    report_from_attributes,
    short_id,
    split_tracejob,
    tracejob_records,
)

DATA = Path(__file__).parent / "data"
R = TerminationReason
KB = 1024


def read(name: str) -> str:
    return (DATA / name).read_text()


def by_id(jobs: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {job[JOB_ID]: job for job in jobs}


def no_usage(job: dict[str, str]) -> bool:
    return not any(key.startswith("resources_used.") for key in job)


def no_exit_status(job: dict[str, str]) -> bool:
    return "Exit_status" not in job and "exit_status" not in job


# ---------------------------------------------------------------------------
# Recorded PBS Professional / OpenPBS outputs
# ---------------------------------------------------------------------------

def test_pbspro_qstat_f_multi_qrh() -> None:
    """Recorded `qstat -f` from PBS Professional at an EPFL-hosted cluster, 2013
    (aiida-core test data): TAB continuations, an empty line inside job 74164."""
    jobs = parse_qstat_f(read("pbspro/qstat-f-multi-QRH.txt"))
    ids = [job[JOB_ID] for job in jobs]
    assert ids == ["68350.mycluster", "68351.mycluster", "69301.mycluster",
                   "69302.mycluster", "74164.mycluster", "74165.mycluster"]
    assert [job["job_state"] for job in jobs] == ["Q", "Q", "R", "H", "R", "H"]
    j = by_id(jobs)

    a = j["68350.mycluster"]
    assert a["Job_Name"] == "cell-Qnormal"
    assert a["Job_Owner"] == "usernum1@mycluster.cluster"
    assert a["queue"] == "Q_express"
    assert a["Resource_List.walltime"] == "01:00:00"
    assert a["Resource_List.ncpus"] == "240"
    assert a["Resource_List.nodect"] == "15"
    assert a["Resource_List.select"] == "15:ncpus=16"
    assert a["Resource_List.mpiprocs"] == "15"
    assert a["substate"] == "10"
    assert no_usage(a)
    assert a["Error_Path"] == ("mycluster.cluster:/home/usernum1/scratch/cptest/scaletest/"
                               "PTOscaletest/testjob.err")
    assert a["comment"] == "Not Running: Node is in an ineligible state: offline"
    b = j["68351.mycluster"]
    assert b["Submit_arguments"] == "job-PTO64cell-Qnormal.6.15.1.64.8"
    strip = {JOB_ID, "Submit_arguments"}
    assert {k: v for k, v in a.items() if k not in strip} == {
        k: v for k, v in b.items() if k not in strip}

    r = j["69301.mycluster"]
    assert r["Job_Owner"] == "user02@mycluster.cluster"
    assert r["queue"] == "P_lsu"
    assert r["Account_Name"] == "lsu"
    assert r["resources_used.walltime"] == "64:26:16"
    assert r["resources_used.cput"] == "4090:56:03"
    assert r["resources_used.mem"] == "13378420kb"
    assert r["resources_used.vmem"] == "9866188kb"
    assert r["resources_used.ncpus"] == "64"
    assert r["resources_used.cpupercent"] == "6384"
    assert r["Resource_List.walltime"] == "72:00:00"
    assert r["Resource_List.ncpus"] == "64"
    assert r["Resource_List.nodect"] == "4"
    assert r["Resource_List.select"] == "4:ncpus=16"
    assert r["exec_host"] == "b141/0*16+b142/0*16+b143/0*16+b144/0*16"
    assert len(r["exec_host"].split("+")) == 4
    assert r["exec_vnode"] == "(b141:ncpus=16)+(b142:ncpus=16)+(b143:ncpus=16)+(b144:ncpus=16)"
    assert r["depend"] == ("afterok:69299.mycluster@mycluster.cluster,"
                           "beforeok:69302.mycluster@mycluster.cluster")
    assert r["stime"] == "Sat Apr 20 01:36:59 2013"
    assert r["session_id"] == "118473"
    assert r["Shell_Path_List"] == "/bin/tcsh"
    assert ",module=() {  eval `/usr/bin/modulecmd bash $*`,}," in r["Variable_List"]
    report = report_from_attributes(r, "pbspro")
    assert report.state == State.RUNNING
    assert report.walltime == Duration(64 * 3600 + 26 * 60 + 16)
    assert report.cputime == Duration(4090 * 3600 + 56 * 60 + 3)
    assert report.max_memory == Memory(13378420 * KB)

    h = j["69302.mycluster"]
    assert (h["job_state"], h["Hold_Types"], h["substate"]) == ("H", "s", "22")
    assert h["depend"] == "afterok:69301.mycluster@mycluster.cluster"
    assert h["Resource_List.walltime"] == "72:00:00"
    assert no_usage(h)
    assert "comment" not in h

    r2 = j["74164.mycluster"]
    assert r2["Job_Owner"] == "user3@mycluster.cluster"
    assert r2["queue"] == "Q_normal"
    assert r2["resources_used.walltime"] == "10:45:13"
    assert r2["resources_used.cput"] == "343:11:42"
    assert r2["resources_used.mem"] == "1824176kb"
    assert r2["resources_used.vmem"] == "3796376kb"
    assert r2["resources_used.ncpus"] == "32"
    assert r2["Resource_List.walltime"] == "24:00:00"
    assert r2["Resource_List.select"] == "2:ncpus=16:mpiprocs=16"
    assert r2["exec_host"] == "b270/0*16+b275/0*16"
    assert r2["Mail_Users"] == "enrico.user3@epfl.ch"
    assert r2["etime"] == "Mon Apr 22 07:17:34 2013"            # after the empty line
    assert r2["Submit_arguments"] == "-W depend=afterany:74163 u-100-l-96.job"

    h2 = j["74165.mycluster"]
    assert (h2["job_state"], h2["Hold_Types"]) == ("H", "s")
    assert h2["Resource_List.walltime"] == "24:00:00"

    reports = [report_from_attributes(job, "pbspro") for job in jobs]
    assert [rep.native_id for rep in reports] == ids
    assert [rep.raw_state for rep in reports] == ["Q", "Q", "R", "H", "R", "H"]
    assert reports[0].message == "Not Running: Node is in an ineligible state: offline"
    # Both H jobs are PBS dependency holds (substate 22): they wait, nobody must release them.
    assert [rep.state for rep in reports] == [
        State.SUBMITTED, State.SUBMITTED, State.RUNNING, State.SUBMITTED, State.RUNNING,
        State.SUBMITTED]
    assert "afterok:69301.mycluster@mycluster.cluster" in (reports[3].message or "")


def test_pbspro_qstat_f_gadi_space_continuation() -> None:
    """Recorded `qstat -f` from NCI Gadi (PBS Professional), April 2023 (pysqa test
    data): continuation lines indented with 8 spaces, some containing `=`."""
    jobs = parse_qstat_f(read("pbspro/qstat-f-gadi-space-continuation.txt"))
    assert [job[JOB_ID] for job in jobs] == [
        "80005196.gadi-pbs", "80005197.gadi-pbs", "80005198.gadi-pbs"]
    assert [job["job_state"] for job in jobs] == ["R", "Q", "Q"]
    assert [job["Job_Name"] for job in jobs] == [
        "test1", "test2", "test_asdfasdfasdfasdfasdfasdfasdfasdfasdfasdf"]
    assert [job["Job_Owner"] for job in jobs] == [
        "asd562@gadi-login-07.gadi.nci.org.au", "asd562@gadi-login-07.gadi.nci.org.au",
        "fgh562@gadi-login-07.gadi.nci.org.au"]
    for job in jobs:
        assert job["queue"] == "normal-exec"
        assert job["Resource_List.walltime"] == "16:00:00"
        assert job["Resource_List.ncpus"] == "96"
        assert job["Resource_List.mpiprocs"] == "96"
        assert job["Resource_List.nodect"] == "2"
        assert job["Resource_List.mem"] == "68719476736b"
        assert job["Resource_List.jobfs"] == "209715200b"
        assert job["Resource_List.software"] == "vasp"
        assert job["Resource_List.select"] == (
            "2:ncpus=48:mpiprocs=48:mem=34359738368:job_tags=normal:jobfs=104857600")
        assert job["Variable_List"].endswith(
            "PBS_O_QUEUE=normal,PBS_O_HOST=gadi-login-07.gadi.nci.org.au")
        assert "PBS_O_PATH" not in job          # `=` inside a continuation is not a key
        assert parse_size(job["Resource_List.mem"]) == Memory(64 * 1024**3)
    first = jobs[0]
    assert first["substate"] == "10"            # upstream oddity: R with substate 10
    assert "exec_host" not in first and no_usage(first)
    assert first["Error_Path"] == (
        "gadi.nci.org.au:/scratch/a01/asd562/VASP/test/test1/test1.e80005196")
    assert jobs[2]["Error_Path"] == (
        "gadi.nci.org.au:/scratch/a01/fgh562/VASP/test/"
        "test_asdfasdfasdfasdfasdfasdfasdfasdfasdfasdf/"
        "test_asdfasdfasdfasdfasdfasdfasdfasdfasdfasdf.e80005198")
    states = [report_from_attributes(job, "pbspro").state for job in jobs]
    assert states == [State.RUNNING, State.SUBMITTED, State.SUBMITTED]


def test_pbspro_qstat_f_running_gadi() -> None:
    """Recorded (sanitised) `qstat -f` from PBS Professional on a Gadi-like system
    (aiida-core PR #7400 test data): one running job, TAB continuations."""
    jobs = parse_qstat_f(read("pbspro/qstat-f-running-gadi.txt"))
    assert len(jobs) == 1
    job = jobs[0]
    assert job[JOB_ID] == "171390152.mycluster"
    assert (job["job_state"], job["substate"]) == ("R", "42")
    assert job["queue"] == "normal-exec"
    assert job["Job_Name"] == "script.sh"
    assert job["Job_Owner"] == "user@mycluster.cluster"
    assert {k: job[k] for k in job if k.startswith("resources_used.")} == {
        "resources_used.cpupercent": "0", "resources_used.cput": "00:00:00",
        "resources_used.jobfs": "0b", "resources_used.mem": "0b",
        "resources_used.ncpus": "1", "resources_used.vmem": "0b",
        "resources_used.walltime": "00:00:10"}
    assert job["exec_host"] == "mycluster-cpu-0686/24"
    assert job["exec_vnode"] == "(mycluster-cpu-0686:ncpus=1:mem=512000kb:jobfs=102400kb)"
    assert job["Resource_List.walltime"] == "10:00:00"
    assert job["Resource_List.mem"] == "524288000b"
    assert job["Resource_List.jobfs"] == "104857600b"
    assert job["Resource_List.ncpus"] == "1"
    assert job["Resource_List.mpiprocs"] == "1"
    assert job["Resource_List.nodect"] == "1"
    assert job["Resource_List.place"] == "free"
    assert job["Resource_List.select"] == (
        "1:ncpus=1:mpiprocs=1:mem=524288000:job_tags=normal:jobfs=104857600")
    assert job["stime"] == "Wed Jun 17 04:57:53 2026"
    assert job["session_id"] == "2388163"
    assert job["run_count"] == "1"
    assert job["comment"] == ("Job run at Wed Jun 17 at 04:57 on "
                              "(mycluster-cpu-0686:ncpus=1:mem=512000kb:jobfs=102400kb)")
    assert job["Variable_List"].endswith(",PBS_O_QUEUE=normal,PBS_JOBFS=/jobfs/171390152.mycluster")
    report = report_from_attributes(job, "pbspro")
    assert (report.state, report.raw_state) == (State.RUNNING, "R")
    assert report.walltime == Duration(10)
    assert report.cputime == Duration(0)
    assert report.max_memory == Memory(0)
    assert report.exitcode is None and report.reason is None


def test_pbspro_qstat_f_bash_function() -> None:
    """Recorded (sanitised) `qstat -f` from PBS Professional on a Gadi-like system
    (aiida-core PR #7400 test data): a job submitted with ``qsub -V`` whose
    Variable_List holds an exported bash function.  Its body lines start in
    column 0 or with one space; they are part of the value, joined with newlines."""
    jobs = parse_qstat_f(read("pbspro/qstat-f-bash-function.txt"))
    assert len(jobs) == 1
    job = jobs[0]
    assert job[JOB_ID] == "171389798.mycluster"
    assert (job["job_state"], job["substate"]) == ("Q", "10")
    assert job["Job_Name"] == "script.sh"
    assert job["queue"] == "normal-exec"
    assert job["Resource_List.select"] == (
        "1:ncpus=1:mpiprocs=1:mem=524288000:job_tags=normal:jobfs=104857600")
    assert job["Resource_List.walltime"] == "10:00:00"
    variables = job["Variable_List"]
    assert variables.startswith("PBS_O_HOME=/,PBS_O_PATH=/path/to/scripts:")
    assert (",MY_VARIABLE=1,MY_VARIABLE_2=2,"
            "BASH_FUNC_my_func_multiline%%=() {  if true; then\n"
            " echo foo; else\n"
            " echo bar; fi\n"
            "},_=/opt/pbs/default/bin/qsub,PBS_O_QUEUE=normal") in variables
    assert variables.endswith(",PBS_O_QUEUE=normal")
    assert job["etime"] == "Wed Jun 17 04:50:46 2026"
    assert job["Submit_arguments"] == "-V script.sh"
    assert job["project"] == "proj"
    assert job["Submit_Host"] == "user@mycluster.cluster"
    assert len(job) == 35
    report = report_from_attributes(job, "pbspro")
    assert (report.state, report.raw_state) == (State.SUBMITTED, "Q")


def test_pbspro_qstat_usage_142() -> None:
    """Recorded usage message of PBS Pro 14.2's qstat on NCAR Cheyenne (radical.saga
    issue #657): a qstat that has no ``-F`` option.  The backend reads such a
    message as "this server gives no JSON" (test_backend.py replays it)."""
    lines = read("pbspro/qstat-usage-14.2.txt").splitlines()
    assert lines[:2] == ["qstat: conflicting options.", "usage: "]
    assert lines[2] == "qstat [-f] [-J] [-p] [-t] [-x] [-E] [ job_identifier... | destination... ]"
    assert lines[-1] == "qstat --version"
    assert len(lines) == 9
    assert not any("-F" in line for line in lines)


def test_pbspro_array_artemis() -> None:
    """Recorded PBS Professional outputs of one array job (University of Sydney Artemis,
    SIH training lesson): `qstat -t 2597100[]` lists the parent in state B and its ten
    running subjobs; `qstat -f 2597100[] | grep array` shows the parent's array
    attributes.  The grep dropped the ``Job Id:`` and ``job_state`` lines: the test puts
    back the id (``Array id: 2597100[].pbsserver`` in the same lesson) and state B (the
    ``qstat -t`` line above)."""
    table = read("pbspro/qstat-t-array-artemis.txt")
    assert count_job_states(table) == {"B": 1, "R": 10}
    ids = [line.split()[0] for line in table.splitlines()[2:]]
    assert [short_id(native) for native in ids] == [
        "2597100[]", *(f"2597100[{index}]" for index in range(1, 11))]
    excerpt = read("pbspro/qstat-f-array-grep-artemis.txt")
    (parent,) = parse_qstat_f("Job Id: 2597100[].pbsserver\n    job_state = B\n" + excerpt)
    assert parent == {
        JOB_ID: "2597100[].pbsserver", "job_state": "B",
        "Submit_arguments": "array_demo.pbs", "array": "True",
        "array_state_count": "Queued:0 Running:10 Exiting:0 Expired:0",
        "array_indices_submitted": "1-10"}
    report = report_from_attributes(parent, "pbspro")
    assert (report.native_id, report.state, report.raw_state) == (
        "2597100[].pbsserver", State.RUNNING, "B")


AURORA = ".aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"


def test_pbspro_qstat_xf_json_held_queued_deleted() -> None:
    """Recorded `qstat -x -f -F json` from ALCF Aurora, PBS Professional 2022.1.7
    (pbs_monitor sample): held, queued and finished-without-running jobs."""
    text = read("pbspro/qstat-xf-json-held-queued-deleted.json")
    jobs = parse_qstat_json(text)
    assert all(job[JOB_ID].endswith(AURORA) for job in jobs)
    j = {job[JOB_ID].removesuffix(AURORA): job for job in jobs}
    assert list(j) == ["4345644", "4349862", "4683812", "4846771", "4846773",
                       "4905429", "4905459", "4905472"]

    a = j["4345644"]
    assert (a["job_state"], a["Hold_Types"], a["substate"], a["run_count"]) == (
        "H", "s", "20", "21")
    assert (a["queue"], a["Job_Name"], a["Resource_List.walltime"]) == (
        "diag", "rfm_FCMA_SOW", "00:15:00")
    assert a["comment"] == "job held, too many failed attempts to run"
    b = j["4349862"]
    assert (b["job_state"], b["Hold_Types"], b["run_count"]) == ("H", "s", "21")
    assert (b["queue"], b["Job_Name"], b["Resource_List.walltime"]) == (
        "alcf_kmd_val", "STDIN", "00:05:00")
    assert b["comment"] == "job held, too many failed attempts to run"
    q = j["4683812"]
    assert (q["job_state"], q["substate"], q["queue"], q["Resource_List.walltime"]) == (
        "Q", "10", "intel_maint", "02:00:00")
    assert q["comment"] == "Not Running: Insufficient amount of resource: at_queue "
    for key in ("4846771", "4846773"):
        f = j[key]
        assert (f["job_state"], f["substate"], f["queue"]) == ("F", "91", "backfill-medium")
        assert no_exit_status(f) and no_usage(f)
        assert f["Resource_List.nodect"] == "1025"
        assert f["Resource_List.walltime"] == "18:00:00"
        assert f["comment"] == "Not Running: Not enough free nodes available and terminated"
        assert f["history_timestamp"] == "1752706056"
    for key, nodect, when in (("4905429", "8000", "19:15:19"), ("4905459", "6000", "19:15:32"),
                              ("4905472", "10000", "19:15:37")):
        u = j[key]
        assert (u["job_state"], u["Hold_Types"], u["queue"], u["Job_Name"]) == (
            "H", "u", "backfill-large", "nekRS_pink")
        assert u["Resource_List.walltime"] == "04:00:00"
        assert u["Resource_List.nodect"] == nodect
        assert u["comment"] == f"Job held by mmin on Wed May 21 {when} 2025"
    assert all(no_exit_status(job) and no_usage(job) for job in jobs)
    assert [job["job_state"] for job in jobs].count("H") == 5
    assert [job["job_state"] for job in jobs].count("Q") == 1
    assert [job["job_state"] for job in jobs].count("F") == 2
    # JSON numbers and strings for the same key end up as the same kind of text.
    assert (j["4345644"]["Resource_List.select"], j["4349862"]["Resource_List.select"],
            j["4846771"]["Resource_List.select"], j["4905429"]["Resource_List.select"]) == (
        "1", "1:ncpus=1", "1025", "8000")
    assert j["4345644"]["Priority"] == "0"
    assert j["4345644"]["estimated.exec_vnode"] == "(x4516c4s6b0n0:ncpus=208)"

    reports = {key: report_from_attributes(job, "pbspro") for key, job in j.items()}
    held = reports["4345644"]
    assert held.state == State.STOPPED
    assert held.message == "held (system hold); job held, too many failed attempts to run"
    assert reports["4905429"].state == State.STOPPED
    assert reports["4905429"].message == (
        "held (user hold); Job held by mmin on Wed May 21 19:15:19 2025")
    assert reports["4683812"].state == State.SUBMITTED
    for key in ("4846771", "4846773"):
        done = reports[key]
        assert (done.state, done.raw_state) == (State.TERMINATED, "F")
        assert done.exitcode is None and done.signal is None
        assert done.reason == R.CANCELLED            # substate 91: terminated (deleted)
        assert done.walltime is None and done.max_memory is None
        assert done.native_id == key + AURORA


def test_pbspro_qstat_xf_json_running() -> None:
    """Recorded `qstat -xf -F json` from MetaCentrum, PBS Professional 19.0.0
    (swrap docstring): one running job, no resources_used yet."""
    jobs = parse_qstat_json(read("pbspro/qstat-xf-json-running.json"))
    assert len(jobs) == 1
    job = jobs[0]
    assert job[JOB_ID] == "12860476.meta-pbs.metacentrum.cz"
    assert (job["job_state"], job["substate"], job["queue"]) == ("R", "41", "charon_2h")
    assert job["Job_Name"] == "swrap_01"
    assert job["Job_Owner"] == "jan_brezina@META"
    assert job["exec_host"] == "charon24/0*2+charon21/0*2"
    assert "exec_host2" in job
    assert job["exec_vnode"] == (
        "(charon24:ncpus=2:mem=4194304kb)+(charon21:ncpus=2:mem=4194304kb)")
    assert job["Resource_List.mem"] == "8gb"
    assert job["Resource_List.mpiprocs"] == "4"
    assert job["Resource_List.ncpus"] == "4"
    assert job["Resource_List.nodect"] == "2"
    assert job["Resource_List.place"] == "scatter"
    assert job["Resource_List.select"] == "2:ncpus=2:mem=4gb:mpiprocs=2:ompthreads=1"
    assert job["Resource_List.walltime"] == "00:01:00"
    assert job["Resource_List.soft_walltime"] == "00:01:00"
    assert job["stime"] == "Tue Oct  4 21:23:33 2022"
    assert job["run_count"] == "1"
    assert no_usage(job) and no_exit_status(job)
    assert job["Rerunable"] == "True"
    variables = job["Variable_List"].split(",")
    assert "PBS_RESC_MEM=4294967296" in variables
    assert "PBS_NCPUS=2" in variables
    report = report_from_attributes(job, "pbspro")
    assert (report.state, report.raw_state) == (State.RUNNING, "R")
    assert report.walltime is None and report.exitcode is None
    assert parse_size(job["Resource_List.mem"]) == Memory(8 * 1024**3)


def test_pbspro_tracejob_openpbs_finished() -> None:
    """Recorded `tracejob 110.n001` from OpenPBS, December 2024 (mpi speed-test
    README): the Exit_status record is wrapped onto an indented line."""
    text = read("pbspro/tracejob-openpbs-finished.txt")
    job_id, records = tracejob_records(text)
    assert job_id == "110.n001"
    assert {kind for _, kind, _ in records} == {"L", "S", "M"}
    messages = [message for _, _, message in records]
    queued = next(m for m in messages if m.startswith("Job Queued"))
    assert "request of earthtest@n001" in queued
    assert "job name = job_mpi-test.sh, queue = workq" in queued
    run = next(r for r in records if r[2].startswith("Job Run at request of"))
    assert run[0] == "12/25/2024 22:27:45"
    assert run[2].endswith("on exec_vnode (n001:ncpus=1)+(n002:ncpus=1)+(n003:ncpus=1)")
    exit_record = next(r for r in records if "Exit_status=" in r[2])
    assert exit_record[0] == "12/25/2024 22:27:52"
    assert exit_record[2] == (
        "Exit_status=0 resources_used.cpupercent=83 resources_used.cput=00:00:03 "
        "resources_used.mem=1988kb resources_used.ncpus=3 resources_used.vmem=20624kb "
        "resources_used.walltime=00:00:04")
    after = messages[messages.index(exit_record[2]) + 1:]
    assert "dequeuing from workq, state E" in after
    assert records[-1][1:] == ("M", "kill_job")

    report = parse_tracejob(text, "pbspro")
    assert report is not None
    assert (report.native_id, report.state) == ("110.n001", State.TERMINATED)
    assert (report.exitcode, report.signal, report.reason) == (0, None, R.EXITED)
    assert report.cputime == Duration(3)
    assert report.walltime == Duration(4)          # from the wrapped line
    assert report.max_memory == Memory(1988 * KB)


# ---------------------------------------------------------------------------
# Recorded Torque outputs
# ---------------------------------------------------------------------------

def single(name: str) -> dict[str, str]:
    jobs = parse_qstat_f(read(name))
    assert len(jobs) == 1
    return jobs[0]


def test_torque_qstat_f_queued_428() -> None:
    """Recorded `qstat -f` from TORQUE 4.2.8 on UCSD's barnacle cluster, Oct 2017
    (oecophylla test data): one queued job, TAB continuations."""
    job = single("torque/qstat-f-queued-4.2.8.txt")
    assert job[JOB_ID] == "515916.barnacle.ucsd.edu"
    assert job["job_state"] == "Q"
    assert job["Job_Name"] == "pita.deblur"
    assert job["Job_Owner"] == "amamir@barnacle.ucsd.edu"
    assert job["queue"] == "med4gb"
    assert job["Resource_List.walltime"] == "48:00:00"
    assert job["Resource_List.nodes"] == "1:ppn=32"
    assert job["Resource_List.mem"] == "250gb"
    assert job["Resource_List.pmem"] == "1gb"
    assert job["Resource_List.ncpus"] == "1"
    assert job["Resource_List.nodect"] == "1"
    assert (job["euser"], job["egroup"], job["queue_type"]) == ("amamir", "knightlab", "E")
    assert no_usage(job) and no_exit_status(job)
    assert job["Error_Path"] == (
        "barnacle.ucsd.edu:/home/amam7564/data/mice-quinoa/pita.deblur.error")
    assert job["submit_args"] == (
        "-d /home/amam7564/data/mice-quinoa -V -m abe -M amnonimjobs@gmail.com -j eo "
        "-e pita.deblur.error -l walltime=48:00:00,nodes=1:ppn=32,mem=250gb -N pita.deblur")
    report = report_from_attributes(job, "torque")
    assert (report.state, report.raw_state, report.native_id) == (
        State.SUBMITTED, "Q", "515916.barnacle.ucsd.edu")


def test_torque_qstat_f_running_428() -> None:
    """Recorded `qstat -f` from TORQUE 4.2.8 on UCSD's barnacle cluster, Oct 2017
    (oecophylla test data): one running job with usage."""
    job = single("torque/qstat-f-running-4.2.8.txt")
    assert job[JOB_ID] == "522059.barnacle.ucsd.edu"
    assert job["job_state"] == "R"
    assert job["Job_Name"] == "snakejob.qc_filter.298.sh"
    assert job["Job_Owner"] == "jgsanders@barnacle.ucsd.edu"
    assert job["queue"] == "short4gb"
    assert job["resources_used.cput"] == "00:11:16"
    assert job["resources_used.mem"] == "3539040kb"
    assert job["resources_used.vmem"] == "5240192kb"
    assert job["resources_used.walltime"] == "00:03:04"
    assert job["exec_host"] == "brncl-31/0+brncl-31/1+brncl-31/2+brncl-31/3"
    assert {slot.split("/")[0] for slot in job["exec_host"].split("+")} == {"brncl-31"}
    assert job["exec_port"] == "15003+15003+15003+15003"
    assert job["Resource_List.walltime"] == "04:00:00"
    assert job["Resource_List.nodes"] == "1:ppn=4"
    assert job["Resource_List.mem"] == "16b"
    assert job["Resource_List.pmem"] == "1gb"
    assert job["session_id"] == "23365"
    assert job["start_time"] == "Fri Oct 20 04:25:05 2017"
    assert job["Walltime.Remaining"] == "14149"
    assert no_exit_status(job)
    report = report_from_attributes(job, "torque")
    assert report.state == State.RUNNING
    assert report.cputime == Duration(11 * 60 + 16)
    assert report.walltime == Duration(3 * 60 + 4)
    assert report.max_memory == Memory(3539040 * KB)
    assert report.exitcode is None


def test_torque_qstat_f_completed_exit0_428() -> None:
    """Recorded `qstat -f` from TORQUE 4.2.8 on UCSD's barnacle cluster, Oct 2017
    (oecophylla test data): a completed job, exit_status 0."""
    job = single("torque/qstat-f-completed-exit0-4.2.8.txt")
    assert job[JOB_ID] == "522081.barnacle.ucsd.edu"
    assert (job["job_state"], job["exit_status"]) == ("C", "0")
    assert job["Job_Name"] == "snakejob.qc_per_sample_fastqc.8980.sh"
    assert job["queue"] == "short4gb"
    assert job["resources_used.cput"] == "00:00:12"
    assert job["resources_used.mem"] == "348800kb"
    assert job["resources_used.vmem"] == "4622536kb"
    assert job["resources_used.walltime"] == "00:00:27"
    assert job["exec_host"] == "brncl-31/4"
    assert job["Resource_List.walltime"] == "04:00:00"
    assert job["Resource_List.nodes"] == "1:ppn=1"
    assert job["Resource_List.mem"] == "4b"
    assert job["start_time"] == "Fri Oct 20 04:27:38 2017"
    assert job["comp_time"] == "Fri Oct 20 04:28:05 2017"
    assert job["total_runtime"] == "27.615239"
    report = report_from_attributes(job, "torque")
    assert (report.state, report.exitcode, report.signal, report.reason) == (
        State.TERMINATED, 0, None, R.EXITED)
    assert report.walltime == Duration(27)
    assert report.cputime == Duration(12)
    assert report.max_memory == Memory(348800 * KB)


def test_torque_qstat_f_completed_torque6() -> None:
    """Recorded `qstat -f 40680075.e4spro-cluster` from TORQUE 6.x, March 2024
    (buildtest docstring): 4-space attributes, 8-space continuations."""
    job = single("torque/qstat-f-completed-torque6.txt")
    assert job[JOB_ID] == "40680075.e4spro-cluster"
    assert (job["job_state"], job["exit_status"]) == ("C", "0")
    assert job["Job_Name"] == "hostname_test"
    assert job["Job_Owner"] == "adaptive50@server.nodus.com"
    assert job["queue"] == "e4spro-cluster"
    keys = list(job)
    assert keys.index("resources_used.cput") < keys.index("job_state")
    assert job["resources_used.cput"] == "00:00:00"
    assert job["resources_used.vmem"] == "0kb"
    assert job["resources_used.walltime"] == "00:00:05"
    assert job["resources_used.mem"] == "0kb"
    assert job["resources_used.energy_used"] == "0"
    assert job["exec_host"] == "ac-d160-0-0/0"
    assert job["Resource_List.walltime"] == "24:00:00"
    assert job["Resource_List.nodes"] == "1"
    assert job["Resource_List.nodect"] == "1"
    assert job["start_time"] == "Mon Mar 25 17:42:32 2024"
    assert job["comp_time"] == "Mon Mar 25 17:42:38 2024"
    assert job["total_runtime"] == "6.235349"
    assert job["Error_Path"] == (
        "e4spro-cluster:/home/adaptive50/Documents/buildtest/var/tests/generic.torque.e4spro/"
        "sleep/hostname_test/b10fea47/stage/hostname_test.e")
    assert job["req_information.hostlist.0"] == "ac-d160-0-0:ppn=1"
    assert keys[-1] == "copy_on_rerun" and job["copy_on_rerun"] == "False"
    report = report_from_attributes(job, "torque")
    assert (report.state, report.exitcode, report.reason) == (State.TERMINATED, 0, R.EXITED)
    assert report.walltime == Duration(5)
    assert report.max_memory == Memory(0)


def test_torque_qstat_f_running_rrcki() -> None:
    """Recorded `qstat -f` from the RRC-KI Tier-1 Torque server, Aug 2021 (DIRAC
    test data): 8-space continuations, hours above 24."""
    job = single("torque/qstat-f-running-rrcki.txt")
    assert job[JOB_ID] == "55755440.seer.t1.grid.kiae.ru"
    assert (job["job_state"], job["queue"]) == ("R", "lhcb")
    assert job["Job_Owner"] == "lhcbpilot0000@calc1.t1.grid.kiae.ru"
    assert job["resources_used.cput"] == "43:02:47"
    assert job["resources_used.mem"] == "1611016kb"
    assert job["resources_used.vmem"] == "3636260kb"
    assert job["resources_used.walltime"] == "43:22:30"
    assert job["Resource_List.walltime"] == "120:00:00"
    assert job["Resource_List.cput"] == "100:00:00"
    assert job["Resource_List.nodes"] == "1"
    assert job["Resource_List.nodect"] == "1"
    assert job["Resource_List.nice"] == "10"
    assert job["exec_host"] == "n175.t1.grid.kiae.ru/17"
    assert job["Priority"] == "-1"
    assert job["start_time"] == "Wed Aug 11 17:13:12 2021"
    assert job["Walltime.Remaining"] == "275789"
    assert no_exit_status(job)
    assert job["Output_Path"] == (
        "calc1.t1.grid.kiae.ru:/shared/sandbox/04/"
        "igyLDmzixXznYTGZXoIFMvcqIyasxmGoZvymfcHKDmABFKDmVYviIm/"
        "igyLDmzixXznYTGZXoIFMvcqIyasxmGoZvymfcHKDmABFKDmVYviIm.o55755440")
    assert list(job)[-1] == "min_nice" and job["min_nice"] == "19"
    report = report_from_attributes(job, "torque")
    assert report.state == State.RUNNING
    assert report.cputime is not None and report.cputime.seconds == 154967.0   # DIRAC's check
    assert report.walltime is not None and report.walltime.seconds == 156150.0
    assert report.max_memory == Memory(1611016 * KB)


def test_torque_qstat_f_completed_mavis() -> None:
    """Recorded `qstat -f -t` from TORQUE 6.x at BCGSC, May 2018 (MAVIS test data):
    an empty line inside the job block is not a separator."""
    jobs = parse_qstat_f(read("torque/qstat-f-completed-mavis.txt"))
    assert len(jobs) == 1
    job = jobs[0]
    assert job[JOB_ID] == "9.torque01.bcgsc.ca"
    assert (job["job_state"], job["exit_status"]) == ("C", "0")
    assert job["Job_Name"] == "subtest.sh"
    assert job["Job_Owner"] == "creisle@torque01.bcgsc.ca"
    assert job["queue"] == "batch"
    assert job["resources_used.cput"] == "00:00:00"
    assert job["resources_used.vmem"] == "346716kb"
    assert job["resources_used.walltime"] == "00:01:00"
    assert job["resources_used.mem"] == "3624kb"
    assert job["resources_used.energy_used"] == "0"
    assert job["exec_host"] == "torque01.bcgsc.ca/0"
    assert job["Resource_List.walltime"] == "01:00:00"
    assert job["Resource_List.nodes"] == "1"
    assert job["Resource_List.nodect"] == "1"
    assert job["comment"] == "Job started on Tue May 29 at 09:37"
    assert job["start_time"] == "Tue May 29 09:37:01 2018"
    assert job["comp_time"] == "Tue May 29 09:38:01 2018"
    assert job["total_runtime"] == "60.481239"
    assert job["Error_Path"] == (
        "torque01.bcgsc.ca:/projects/trans_scratch/validations/workspace/creisle/temp/"
        "subtest.sh.e9")
    assert job["request_version"] == "1"       # after the empty line
    report = report_from_attributes(job, "torque")
    assert (report.state, report.exitcode, report.reason) == (State.TERMINATED, 0, R.EXITED)
    assert report.walltime == Duration(60)
    assert report.max_memory == Memory(3624 * KB)


def test_torque_tracejob_completed() -> None:
    """Recorded `tracejob` stdout from a TORQUE server (argo.ictp.it), March 2012
    (GC3Pie test data, job id placeholder set to 123)."""
    text = read("torque/tracejob-completed.txt")
    job_id, records = tracejob_records(text)
    assert job_id == "123"
    assert len(records) == 7
    assert {kind for _, kind, _ in records} == {"S"}
    queued = records[1][2]
    assert "request of amessina@argo.ictp.it" in queued
    assert "job name = DemoPBSApp, queue = short" in queued
    assert records[2][:1] == ("03/09/2012 09:32:03",)
    assert records[2][2].startswith("Job Run")
    exit_record = next(r for r in records if "Exit_status=" in r[2])
    assert exit_record[0] == "03/09/2012 09:34:08"
    assert exit_record[2] == (
        "Exit_status=0 resources_used.cput=00:00:00 resources_used.mem=2364kb "
        "resources_used.vmem=190944kb resources_used.walltime=00:02:05")
    assert records[-1][2] == "dequeuing from short, state COMPLETE"
    report = parse_tracejob(text, "torque")
    assert report is not None
    assert (report.native_id, report.state, report.exitcode, report.reason) == (
        "123", State.TERMINATED, 0, R.EXITED)
    assert report.walltime == Duration(125)
    assert report.cputime == Duration(0)
    assert report.max_memory == Memory(2364 * KB)


def test_pbspro_pbsnodes_soca() -> None:
    """Recorded `pbsnodes -a` from PBS Professional on Scale-Out Computing on AWS, Sept
    2019 (SOCA docs): one free node running one 1-cpu job, one down node."""
    nodes = parse_pbsnodes(read("pbspro/pbsnodes-a-soca.txt"))
    assert [node[NODE] for node in nodes] == ["ip-90-0-118-49", "ip-90-0-188-37"]
    ready, down = nodes
    assert (ready["state"], ready["pcpus"], ready["jobs"]) == ("free", "16", "1.ip-90-0-24-214/0")
    assert (ready["resources_available.ncpus"], ready["resources_assigned.ncpus"]) == ("16", "1")
    assert ready["resources_available.mem"] == "31890060kb"
    assert ready["last_state_change_time"] == "Sun Sep 29 23:30:05 2019"
    assert down["state"] == "state-unknown,down"
    assert down["comment"] == "node down: communication closed"
    assert "resources_available.ncpus" not in down and down["resources_assigned.ncpus"] == "0"
    assert node_slots(ready, "pbspro") == (16, 1, True)
    assert node_slots(down, "pbspro") == (0, 0, False)


def test_torque_pbsnodes_emmy() -> None:
    """Recorded `pbsnodes -a` from a TORQUE cluster (RRZE Emmy, Feb 2016; aggmon test
    data): a free node and a full one listing 40 single-slot entries."""
    nodes = parse_pbsnodes(read("torque/pbsnodes-a-emmy.txt"))
    assert [node[NODE] for node in nodes] == ["e1165", "e1166"]
    free, full = nodes
    assert (free["state"], free["np"], free["ntype"]) == ("free", "40", "cluster")
    assert "jobs" not in free
    assert free["status"].startswith("rectime=1455702949,varattr=,jobs=,state=free,")
    assert free["gpu_status"] == "timestamp=Wed Feb 17 10:55:49 2016"
    assert (full["state"], full["np"]) == ("job-exclusive", "40")
    assert full["jobs"].split(",")[0] == "0/535654.eadm"
    assert full["jobs"].split(",")[-1] == "39/535654.eadm"
    assert full["mom_manager_port"] == "15003"
    assert node_slots(free, "torque") == (40, 0, True)
    assert node_slots(full, "torque") == (40, 40, True)


def test_wrapper_qstat_f_completed_running_queued() -> None:
    """Captured on this CI host: `qstat -f 176 177 178` of Slurm's Torque wrapper
    (slurm-wlm-torque 22.05.8) on the test Slurm cluster: attribute lines are
    TAB-indented, ids have no server suffix, and there is no exit_status."""
    jobs = parse_qstat_f(read("wrapper/qstat-f-C-R-Q.txt"))
    assert [job[JOB_ID] for job in jobs] == ["176", "177", "178"]
    assert [job["job_state"] for job in jobs] == ["C", "R", "Q"]
    assert [job["Job_Name"] for job in jobs] == ["done", "run", "wait"]
    assert [job["Resource_List.ncpus"] for job in jobs] == ["1", "1", "2"]
    assert all(job["Resource_List.walltime"] == "00:02:00" for job in jobs)
    assert jobs[0]["exec_host"] == "vm/1" and "exec_host" not in jobs[2]
    assert all(no_exit_status(job) and no_usage(job) for job in jobs)
    reports = [report_from_attributes(job, "torque") for job in jobs]
    assert [r.state for r in reports] == [State.TERMINATED, State.RUNNING, State.SUBMITTED]
    assert (reports[0].exitcode, reports[0].signal, reports[0].reason) == (
        None, None, R.UNKNOWN)                  # the backend asks tracejob / the exit file


def test_wrapper_status_outputs() -> None:
    """Captured on this CI host from Slurm's Torque wrappers (22.05.8): `pbsnodes -a`
    with the node full and half full, `qstat -q`, and `qstat -u root` (only the
    header and this test's rows kept)."""
    full, = parse_pbsnodes(read("wrapper/pbsnodes-a-job-exclusive.txt"))
    mixed, = parse_pbsnodes(read("wrapper/pbsnodes-a-mixed.txt"))
    assert (full[NODE], full["state"], full["np"]) == ("vm", "job-exclusive", "2")
    assert "slurmstate=allocated" in full["status"]
    assert node_slots(full, "torque") == (2, 2, True)
    assert (mixed["state"], mixed["np"]) == ("mixed", "2")
    assert node_slots(mixed, "torque") == (2, 0, True)   # the wrapper lists no jobs per node
    assert parse_queue_totals(read("wrapper/qstat-q.txt")) == (2, 1)
    assert count_job_states(read("wrapper/qstat-u-excerpt.txt")) == {"C": 2, "R": 1, "Q": 1}


FIXTURE_TESTS = {
    "pbspro/qstat-f-multi-QRH.txt": "test_pbspro_qstat_f_multi_qrh",
    "pbspro/qstat-f-gadi-space-continuation.txt": "test_pbspro_qstat_f_gadi_space_continuation",
    "pbspro/qstat-f-running-gadi.txt": "test_pbspro_qstat_f_running_gadi",
    "pbspro/qstat-f-bash-function.txt": "test_pbspro_qstat_f_bash_function",
    "pbspro/qstat-usage-14.2.txt": "test_pbspro_qstat_usage_142",
    "pbspro/qstat-t-array-artemis.txt": "test_pbspro_array_artemis",
    "pbspro/qstat-f-array-grep-artemis.txt": "test_pbspro_array_artemis",
    "pbspro/qstat-xf-json-held-queued-deleted.json":
        "test_pbspro_qstat_xf_json_held_queued_deleted",
    "pbspro/qstat-xf-json-running.json": "test_pbspro_qstat_xf_json_running",
    "pbspro/tracejob-openpbs-finished.txt": "test_pbspro_tracejob_openpbs_finished",
    "torque/qstat-f-queued-4.2.8.txt": "test_torque_qstat_f_queued_428",
    "torque/qstat-f-running-4.2.8.txt": "test_torque_qstat_f_running_428",
    "torque/qstat-f-completed-exit0-4.2.8.txt": "test_torque_qstat_f_completed_exit0_428",
    "torque/qstat-f-completed-torque6.txt": "test_torque_qstat_f_completed_torque6",
    "torque/qstat-f-running-rrcki.txt": "test_torque_qstat_f_running_rrcki",
    "torque/qstat-f-completed-mavis.txt": "test_torque_qstat_f_completed_mavis",
    "torque/tracejob-completed.txt": "test_torque_tracejob_completed",
    "pbspro/pbsnodes-a-soca.txt": "test_pbspro_pbsnodes_soca",
    "torque/pbsnodes-a-emmy.txt": "test_torque_pbsnodes_emmy",
    "wrapper/qstat-f-C-R-Q.txt": "test_wrapper_qstat_f_completed_running_queued",
    "wrapper/pbsnodes-a-job-exclusive.txt": "test_wrapper_status_outputs",
    "wrapper/pbsnodes-a-mixed.txt": "test_wrapper_status_outputs",
    "wrapper/qstat-q.txt": "test_wrapper_status_outputs",
    "wrapper/qstat-u-excerpt.txt": "test_wrapper_status_outputs",
}


def test_every_fixture_is_covered() -> None:
    """Each recorded file in tests/data has a SOURCES.md entry and a facts test above."""
    sources = (DATA / "SOURCES.md").read_text()
    files = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/*"))
    assert files == sorted(FIXTURE_TESTS)
    for rel, test in FIXTURE_TESTS.items():
        assert f"### {rel}\n" in sources
        assert callable(globals()[test])


# ---------------------------------------------------------------------------
# State letters, per flavour
# ---------------------------------------------------------------------------

PBSPRO_STATES = [
    ("Q", State.SUBMITTED), ("W", State.SUBMITTED), ("T", State.SUBMITTED),
    ("H", State.STOPPED), ("S", State.STOPPED), ("U", State.STOPPED),
    ("R", State.RUNNING), ("B", State.RUNNING), ("E", State.TERMINATING),
    ("F", State.TERMINATED), ("X", State.TERMINATED), ("M", State.UNKNOWN),
]
TORQUE_STATES = [
    ("Q", State.SUBMITTED), ("W", State.SUBMITTED), ("T", State.SUBMITTED),
    ("H", State.STOPPED), ("S", State.STOPPED), ("R", State.RUNNING),
    ("E", State.TERMINATING), ("C", State.TERMINATED),
]


@pytest.mark.parametrize(("letter", "expected"), PBSPRO_STATES)
def test_pbspro_state_letters(letter: str, expected: State) -> None:
    """Letters of the PBS Professional 2024.1 Reference Guide (job_state) on synthetic input."""
    report = report_from_attributes({JOB_ID: "1.s", "job_state": letter}, "pbspro")
    assert (report.state, report.raw_state, report.native_id) == (expected, letter, "1.s")


@pytest.mark.parametrize(("letter", "expected"), TORQUE_STATES)
def test_torque_state_letters(letter: str, expected: State) -> None:
    """Letters of the Torque 6.1.2 qstat page on synthetic input."""
    report = report_from_attributes({JOB_ID: "1.s", "job_state": letter}, "torque")
    assert (report.state, report.raw_state) == (expected, letter)


@pytest.mark.parametrize("flavour", ["pbspro", "torque"])
@pytest.mark.parametrize("word", ["", "Z", "RUNNING", "qw", "?", "  "])
def test_unknown_state_words(flavour: str, word: str) -> None:
    """Unknown or empty job_state is UNKNOWN, never an exception (synthetic input)."""
    report = report_from_attributes({JOB_ID: "7.s", "job_state": word}, flavour)  # type: ignore[arg-type]
    assert report.state == State.UNKNOWN
    assert report.message


def test_missing_everything() -> None:
    """An empty attribute dict (synthetic) still gives a report."""
    report = report_from_attributes({}, "pbspro")
    assert (report.native_id, report.state) == ("", State.UNKNOWN)


@pytest.mark.parametrize(("holds", "substate", "state", "message"), [
    ("u", "20", State.STOPPED, "held (user hold)"),
    ("o", "20", State.STOPPED, "held (operator hold)"),
    ("s", "20", State.STOPPED, "held (system hold)"),
    ("us", "20", State.STOPPED, "held (user hold, system hold)"),
    ("s", "22", State.SUBMITTED, "waiting for dependency afterok:1.s"),
    ("us", "22", State.STOPPED, "held (user hold, system hold)"),   # a human must release
    ("", "37", State.STOPPED, "held"),
])
def test_hold_types(holds: str, substate: str, state: State, message: str) -> None:
    """H with Hold_Types (PBS RG Hold_Types; job.h substates 20/22/37), synthetic."""
    attrs = {JOB_ID: "2.s", "job_state": "H", "Hold_Types": holds, "substate": substate,
             "depend": "afterok:1.s"}
    report = report_from_attributes(attrs, "pbspro")
    assert (report.state, report.message) == (state, message)


@pytest.mark.parametrize(("counts", "state"), [
    ("Queued:0 Running:2 Exiting:0 Expired:3", State.RUNNING),
    ("Queued:5 Running:0 Exiting:1 Expired:0", State.RUNNING),
    ("Queued:4 Running:0 Exiting:0 Expired:6", State.SUBMITTED),
    ("Queued:0 Running:0 Exiting:0 Expired:10", State.RUNNING),
    ("", State.RUNNING),
    ("garbage", State.RUNNING),
])
def test_array_parent(counts: str, state: State) -> None:
    """PBS Pro array parent B refined by array_state_count (synthetic)."""
    attrs = {JOB_ID: "5[].s", "job_state": "B", "array_state_count": counts}
    assert report_from_attributes(attrs, "pbspro").state == state


def test_waiting_message() -> None:
    """W without a comment explains itself (synthetic)."""
    report = report_from_attributes({JOB_ID: "3.s", "job_state": "W"}, "pbspro")
    assert report.message == "waiting for its execution time"


# ---------------------------------------------------------------------------
# Exit status: JOB_EXEC codes, signals
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("flavour", "code"), [
    (flavour, code) for flavour, table in JOB_EXEC_CODES.items() for code in table])
def test_job_exec_codes(flavour: str, code: int) -> None:
    """Every negative code of each manual's table (synthetic C/F jobs)."""
    name, _meaning, reason = JOB_EXEC_CODES[flavour][code]
    letter = "F" if flavour == "pbspro" else "C"
    attrs = {JOB_ID: "9.s", "job_state": letter, "Exit_status": str(code)}
    report = report_from_attributes(attrs, flavour)  # type: ignore[arg-type]
    assert report.state == State.TERMINATED
    assert (report.exitcode, report.signal, report.reason) == (None, None, reason)
    assert report.message is not None and report.message.startswith(f"{name} ({code})")


@pytest.mark.parametrize(("code", "pbspro", "torque"), [
    (-1, R.SUBMISSION_FAILED, R.SUBMISSION_FAILED),
    (-4, R.NODE_FAILURE, R.NODE_FAILURE),
    (-8, R.UNKNOWN, R.SUBMISSION_FAILED),          # not in the PBS Pro table
    (-10, R.SUBMISSION_FAILED, R.MEMORY_EXCEEDED),  # FAILUID vs OVERLIMIT_MEM
    (-11, R.NODE_FAILURE, R.WALLTIME_EXCEEDED),     # RERUN vs OVERLIMIT_WT
    (-12, R.NODE_FAILURE, R.WALLTIME_EXCEEDED),     # CHKP vs OVERLIMIT_CPUT
    (-27, R.MEMORY_EXCEEDED, R.UNKNOWN),
    (-29, R.WALLTIME_EXCEEDED, R.UNKNOWN),
    (-999, R.UNKNOWN, R.UNKNOWN),
])
def test_job_exec_codes_differ_between_flavours(
        code: int, pbspro: TerminationReason, torque: TerminationReason) -> None:
    """The same negative number means different things in the two manuals."""
    assert decode_exit_status(code, "pbspro")[2] == pbspro
    assert decode_exit_status(code, "torque")[2] == torque


@pytest.mark.parametrize("flavour", ["pbspro", "torque"])
@pytest.mark.parametrize(("status", "exitcode", "signal", "reason"), [
    (0, 0, None, R.EXITED),
    (1, 1, None, R.EXITED),
    (127, 127, None, R.EXITED),
    (128, 128, None, R.EXITED),
    (129, None, 1, R.SIGNALLED),
    (137, None, 9, R.SIGNALLED),      # shell: child killed by SIGKILL
    (143, None, 15, R.SIGNALLED),
    (192, None, 64, R.SIGNALLED),
    (193, 193, None, R.EXITED),
    (254, 254, None, R.EXITED),       # PBS Pro: execve() failure, or `exit 254`
    (255, 255, None, R.EXITED),
    (256, 256, None, R.EXITED),
    (265, None, 9, R.SIGNALLED),      # MoM: top shell killed by SIGKILL (256+9)
    (271, None, 15, R.SIGNALLED),     # Torque's "cancelled running job" 256+15
    (320, None, 64, R.SIGNALLED),
    (321, 321, None, R.EXITED),
])
def test_signals(flavour: str, status: int, exitcode: int | None, signal: int | None,
                 reason: TerminationReason) -> None:
    """256+N (MoM) and 128+N (shell) decoding, both dialects (synthetic)."""
    attrs = {JOB_ID: "4.s", "job_state": "F" if flavour == "pbspro" else "C",
             "Exit_status" if flavour == "pbspro" else "exit_status": str(status)}
    report = report_from_attributes(attrs, flavour)  # type: ignore[arg-type]
    assert (report.exitcode, report.signal, report.reason) == (exitcode, signal, reason)


@pytest.mark.parametrize(("used", "signal_status", "reason"), [
    ("01:00:05", "271", R.WALLTIME_EXCEEDED),
    ("01:00:00", "265", R.WALLTIME_EXCEEDED),
    ("00:59:00", "271", R.SIGNALLED),
    ("01:00:05", "267", R.SIGNALLED),     # SIGSEGV is not a walltime kill
    ("01:00:05", "0", R.EXITED),
])
def test_walltime_kill_heuristic(used: str, signal_status: str,
                                 reason: TerminationReason) -> None:
    """SIGTERM/SIGKILL after using the whole Resource_List.walltime (synthetic Torque C)."""
    attrs = {JOB_ID: "6.s", "job_state": "C", "exit_status": signal_status,
             "resources_used.walltime": used, "Resource_List.walltime": "01:00:00"}
    assert report_from_attributes(attrs, "torque").reason == reason


def test_deleted_pbspro_job_is_cancelled() -> None:
    """PBS Pro F substate 91 (terminated) with a signal exit: qdel (synthetic)."""
    attrs = {JOB_ID: "8.s", "job_state": "F", "substate": "91", "Exit_status": "271"}
    report = report_from_attributes(attrs, "pbspro")
    assert (report.signal, report.reason) == (15, R.CANCELLED)
    assert report_from_attributes({**attrs, "substate": "92"}, "pbspro").reason == R.SIGNALLED
    failed = {JOB_ID: "8.s", "job_state": "F", "substate": "93"}
    assert report_from_attributes(failed, "pbspro").reason == R.NODE_FAILURE
    assert report_from_attributes({JOB_ID: "8.s", "job_state": "C"}, "torque").reason == (
        R.UNKNOWN)


@pytest.mark.parametrize("key", ["Exit_status", "exit_status"])
@pytest.mark.parametrize("flavour", ["pbspro", "torque"])
def test_exit_status_spellings(key: str, flavour: str) -> None:
    """PBS Pro writes Exit_status, Torque exit_status; both are read (synthetic)."""
    attrs = {JOB_ID: "1.s", "job_state": "F", key: " 3 "}
    assert report_from_attributes(attrs, flavour).exitcode == 3  # type: ignore[arg-type]


def test_exit_status_garbage_and_running_exit() -> None:
    """A non-numeric exit status is ignored; E carries its exit status (synthetic)."""
    bad = {JOB_ID: "1.s", "job_state": "F", "Exit_status": "n/a"}
    report = report_from_attributes(bad, "pbspro")
    assert (report.state, report.exitcode, report.reason) == (
        State.TERMINATED, None, R.UNKNOWN)
    exiting = {JOB_ID: "1.s", "job_state": "E", "Exit_status": "2"}
    report = report_from_attributes(exiting, "pbspro")
    assert (report.state, report.exitcode, report.reason) == (State.TERMINATING, 2, R.EXITED)
    running = report_from_attributes({JOB_ID: "1.s", "job_state": "R"}, "pbspro")
    assert (running.exitcode, running.reason) == (None, None)


# ---------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "nbytes"), [
    ("0b", 0), ("16b", 16), ("1024b", 1024), ("512", 512),
    ("1kb", 1024), ("13378420kb", 13378420 * 1024), ("10KB", 10 * 1024),
    ("2mb", 2 * 1024**2), ("8gb", 8 * 1024**3), ("1tb", 1024**4), ("1pb", 1024**5),
    ("1w", 8), ("2kw", 2 * 1024 * 8), ("3mw", 3 * 1024**2 * 8),
    (" 68719476736b ", 68719476736),
])
def test_sizes(text: str, nbytes: int) -> None:
    """PBS size units are binary (RG "size"): kb = 1024 bytes, w = 8-byte word (synthetic)."""
    assert parse_size(text) == Memory(nbytes)


@pytest.mark.parametrize("text", ["", "abc", "-1kb", "1 zb", "1.2.3kb", "kb"])
def test_bad_sizes(text: str) -> None:
    """Synthetic malformed sizes give None, not an exception."""
    assert parse_size(text) is None


@pytest.mark.parametrize(("unit", "factor"), [
    ("b", 1), ("kb", 1024), ("mb", 1024**2), ("gb", 1024**3), ("tb", 1024**4)])
def test_memory_units_in_reports(unit: str, factor: int) -> None:
    """resources_used.mem with each unit (synthetic running job)."""
    attrs = {JOB_ID: "1.s", "job_state": "R", "resources_used.mem": f"3{unit}"}
    assert report_from_attributes(attrs, "pbspro").max_memory == Memory(3 * factor)


def test_vmem_fallback_and_bad_usage() -> None:
    """vmem stands in when mem is missing; unparsable usage is dropped (synthetic)."""
    attrs = {JOB_ID: "1.s", "job_state": "R", "resources_used.vmem": "2gb"}
    assert report_from_attributes(attrs, "torque").max_memory == Memory(2 * 1024**3)
    bad = {JOB_ID: "1.s", "job_state": "R", "resources_used.mem": "lots",
           "resources_used.walltime": "soon", "resources_used.cput": ""}
    report = report_from_attributes(bad, "torque")
    assert (report.max_memory, report.walltime, report.cputime) == (None, None, None)


@pytest.mark.parametrize(("text", "seconds"), [
    ("00:00:10", 10), ("64:26:16", 231976), ("4090:56:03", 14727363), ("3600", 3600),
    ("10:00", 600)])
def test_durations(text: str, seconds: int) -> None:
    """PBS times as qstat prints them (hours may exceed 99), synthetic."""
    duration = parse_duration(text)
    assert duration is not None and duration.seconds == seconds


def test_bad_duration() -> None:
    """Synthetic malformed time gives None."""
    assert parse_duration("yesterday") is None


# ---------------------------------------------------------------------------
# Malformed and tricky qstat -f / JSON
# ---------------------------------------------------------------------------

def test_qstat_f_empty_and_garbage() -> None:
    """Synthetic malformed input: nothing crashes, junk is ignored."""
    assert parse_qstat_f("") == []
    assert parse_qstat_f("qstat: Unknown Job Id 5.s\n\n") == []
    text = ("junk before\n    orphan = 1\nJob Id: 5.s\n\tcontinuation before any attribute\n"
            "    no equals sign here\n    job_state = R\n    empty =\n    spaced = \n")
    jobs = parse_qstat_f(text)
    assert jobs == [{JOB_ID: "5.s", "job_state": "R", "empty": "", "spaced": ""}]


def test_qstat_f_continuations() -> None:
    """Synthetic: TAB keeps a following space; '=' in a continuation; CRLF; blank lines."""
    text = ("Job Id: 7.server\r\n"
            "    comment = a{\r\n"
            "\t  b\r\n"
            "\r\n"
            "    Variable_List = A=1,\r\n"
            "        B=2,C=3\r\n"
            "    job_state = Q\r\n")
    (job,) = parse_qstat_f(text)
    assert job["comment"] == "a{  b"
    assert job["Variable_List"] == "A=1,B=2,C=3"
    assert "B" not in job and job["job_state"] == "Q"


def test_qstat_f_value_lines_never_set_attributes() -> None:
    """Synthetic: lines of a multi-line value (column 0, or indented by 1-3 or 5-7
    spaces) belong to the value, even when they look like ``job_state = C``; only
    lines at the block's attribute indentation (4 spaces here) are attributes.
    A blank line inside a value is kept; blank lines before an attribute are not."""
    text = ("Job Id: 9.s\n"
            "    job_state = R\n"
            "    Variable_List = A=1,BASH_FUNC_f%%=() {  echo x;\n"
            " job_state = C\n"
            "Exit_status = 0\n"
            "\n"
            "   Job Id: 10.s\n"
            "      substate = 92\n"
            "},B=2,\n"
            "\tC=3\n"
            "\n"
            "    queue = q\n")
    (job,) = parse_qstat_f(text)
    assert job == {
        JOB_ID: "9.s", "job_state": "R", "queue": "q",
        "Variable_List": ("A=1,BASH_FUNC_f%%=() {  echo x;\n job_state = C\nExit_status = 0"
                          "\n\n   Job Id: 10.s\n      substate = 92\n},B=2,C=3")}
    report = report_from_attributes(job, "pbspro")
    assert (report.state, report.exitcode) == (State.RUNNING, None)


def test_qstat_f_deeper_copy() -> None:
    """Synthetic copy indented 8/12 spaces: the 8-space lines are attributes."""
    text = ("Job Id: 8.s\n"
            "        Job_Name = long\n"
            "            name\n"
            "        job_state = R\n")
    (job,) = parse_qstat_f(text)
    assert job == {JOB_ID: "8.s", "Job_Name": "longname", "job_state": "R"}


def test_qstat_json_shapes() -> None:
    """Synthetic PBS Pro JSON: numbers, booleans, lists, nesting, no Jobs."""
    doc = {"pbs_version": "2022.1", "Jobs": {"3.s": {
        "job_state": "F", "Exit_status": 271, "Rerunable": True, "score": 0.5,
        "resources_used": {"walltime": "00:10:00", "mem": "20kb", "ncpus": 2},
        "Resource_List": {"walltime": "00:10:00"}, "Variable_List": {"A": 1, "B": "x"},
        "list": ["a", 1], "none": None}}}
    (job,) = parse_qstat_json(json.dumps(doc))
    assert job == {
        JOB_ID: "3.s", "job_state": "F", "Exit_status": "271", "Rerunable": "True",
        "score": "0.5", "resources_used.walltime": "00:10:00", "resources_used.mem": "20kb",
        "resources_used.ncpus": "2", "Resource_List.walltime": "00:10:00",
        "Variable_List": "A=1,B=x", "list": "a,1", "none": ""}
    report = report_from_attributes(job, "pbspro")
    assert (report.signal, report.reason, report.max_memory) == (
        15, R.WALLTIME_EXCEEDED, Memory(20 * 1024))
    assert parse_qstat_json('{"pbs_version": "19.0.0"}') == []
    assert parse_qstat_json('{"Jobs": {}}') == []
    assert parse_qstat_json('{"Jobs": {"1.s": {"comment": "tab\there"}}}')[0]["comment"] == (
        "tab\there")


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"Jobs": [1]}', '{"Jobs": {'])
def test_qstat_json_malformed(text: str) -> None:
    """Synthetic broken JSON raises ValueError (the caller falls back to text)."""
    with pytest.raises(ValueError):
        parse_qstat_json(text)


# ---------------------------------------------------------------------------
# tracejob, synthetic
# ---------------------------------------------------------------------------

def test_tracejob_without_outcome() -> None:
    """Synthetic tracejob output that cannot tell the outcome gives None."""
    assert parse_tracejob("", "pbspro") is None
    assert parse_tracejob("03/09/2012 09:31:53  S    Exit_status=0\n", "torque") is None
    running = "Job: 5.s\n\n03/09/2012 09:31:53  S    Job Run at request of root@h\n"
    assert parse_tracejob(running, "torque") is None


def test_tracejob_walltime_kill() -> None:
    """Modelled on the Torque 4.2 Admin Guide tracejob example: a walltime kill."""
    text = ("Job: 10.svr\n\n"
            "03/02/2005 18:02:11  M    walltime 210 exceeded limit 100\n"
            "03/02/2005 18:02:11  M    kill_job\n"
            "03/02/2005 18:07:46  A    end=1109811987 Exit_status=265 "
            "resources_used.cput=00:00:00 resources_used.mem=100kb "
            "resources_used.walltime=00:07:46\n")
    report = parse_tracejob(text, "torque")
    assert report is not None
    assert (report.signal, report.exitcode, report.reason) == (9, None, R.WALLTIME_EXCEEDED)
    assert report.walltime == Duration(466)


def test_tracejob_memory_kill_and_deletions() -> None:
    """Synthetic PBS logs: memory limit, qdel while running, qdel while queued, codes."""
    mem = ("Job: 11.s\n01/01/2024 10:00:00  M    job killed: mem 2097152kb exceeded limit "
           "1048576kb\n01/01/2024 10:00:01  S    Exit_status=271\n")
    assert parse_tracejob(mem, "pbspro").reason == R.MEMORY_EXCEEDED  # type: ignore[union-attr]
    running = ("Job: 12.s\n01/01/2024 10:00:00  S    Job deleted at request of u@h\n"
               "01/01/2024 10:00:01  S    Exit_status=271 resources_used.walltime=00:00:01\n")
    report = parse_tracejob(running, "pbspro")
    assert report is not None and (report.signal, report.reason) == (15, R.CANCELLED)
    queued = "Job: 13.s\n01/01/2024 10:00:00  S    Job deleted at request of u@h\n"
    report = parse_tracejob(queued, "pbspro")
    assert report is not None
    assert (report.state, report.reason, report.exitcode) == (
        State.TERMINATED, R.CANCELLED, None)
    failed = "Job: 14.s\n01/01/2024 10:00:00  S    Exit_status=-11\n"
    assert parse_tracejob(failed, "torque").reason == R.WALLTIME_EXCEEDED  # type: ignore[union-attr]
    assert parse_tracejob(failed, "pbspro").reason == R.NODE_FAILURE  # type: ignore[union-attr]
    ok = ("Job: 15.s\n01/01/2024 10:00:00  S    Exit_status=0\n"
          "01/01/2024 10:00:01  S    Job deleted at request of u@h\n")
    assert parse_tracejob(ok, "pbspro").reason == R.EXITED  # type: ignore[union-attr]


# ---------------------------------------------------------------------------
# Job names and qsub ids
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "pbspro", "torque"), [
    ("ok-name_+1", "ok-name_+1", "ok-name_+1"),
    ("pita.deblur", "pita_deblur", "pita.deblur"),      # PBS Pro rejects '.', Torque not
    ("my job", "my_job", "my_job"),
    ("a@b", "a_b", "a_b"),
    ("x;rm$y`z'", "x_rm_y_z_", "x_rm_y_z_"),          # shell metacharacters (synthetic)
    ("1abc", "j1abc", "j1abc"),
    ("_x", "j_x", "j_x"),
    ("", "job", "job"),
    ("é", "j_", "j_"),
    ("tab\there", "tab_here", "tab_here"),
    ("snakejob.qc_filter.298.sh", "snakejob_qc_filter_298_sh", "snakejob.qc_fil"),
    ("x" * 300, "x" * 236, "x" * 15),
])
def test_legal_job_name(name: str, pbspro: str, torque: str) -> None:
    """OpenPBS ck_job_name.c (236, alnum - _ +) and Torque (15 kept, `.` allowed);
    synthetic names, some taken from the recorded fixtures."""
    assert legal_job_name(name, "pbspro") == pbspro
    assert legal_job_name(name, "torque") == torque


@pytest.mark.parametrize("name", ["", "9", "-", "a b c", "über", "x" * 500, "$HOME/job.sh",
                                  "name\nwith newline", "#!"])
def test_legal_job_names_pass_the_checks(name: str) -> None:
    """The results satisfy each dialect's qsub -N check (synthetic names)."""
    pbspro = legal_job_name(name, "pbspro")
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]{0,235}", pbspro)
    torque = legal_job_name(name, "torque")
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]{0,14}", torque)


@pytest.mark.parametrize(("text", "job_id"), [
    ("1234.pbs01\n", "1234.pbs01"),
    ("80005196.gadi-pbs\n", "80005196.gadi-pbs"),
    ("12860476.meta-pbs.metacentrum.cz\r\n", "12860476.meta-pbs.metacentrum.cz"),
    ("qsub: warning: something odd\n515916.barnacle.ucsd.edu\n", "515916.barnacle.ucsd.edu"),
    ("Welcome to the cluster!\n\n  42.srv  \n", "42.srv"),
    ("1234[].pbs01\n", "1234[].pbs01"),
    ("1234\n", "1234"),
])
def test_parse_qsub_id(text: str, job_id: str) -> None:
    """qsub stdout as PBS prints it, with extra lines tolerated (synthetic)."""
    assert parse_qsub_id(text) == job_id


@pytest.mark.parametrize("text", ["", "\n", "qsub: Unknown queue MSG=cannot locate queue\n",
                                  "job 1234 submitted", "pbs01.1234"])
def test_parse_qsub_id_fails(text: str) -> None:
    """Synthetic qsub output without a job id (e.g. a rejection) raises ValueError."""
    with pytest.raises(ValueError):
        parse_qsub_id(text)


@pytest.mark.parametrize("call", [
    lambda: report_from_attributes({}, "slurm"),  # type: ignore[arg-type]
    lambda: parse_tracejob("", "sge"),  # type: ignore[arg-type]
    lambda: legal_job_name("x", "PBSPro"),  # type: ignore[arg-type]
    lambda: decode_exit_status(0, ""),  # type: ignore[arg-type]
])
def test_unknown_flavour(call) -> None:
    """A flavour other than pbspro/torque is a programming error (synthetic)."""
    with pytest.raises(ValueError, match="flavour"):
        call()


# ---------------------------------------------------------------------------
# Resource status and id helpers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("node", "flavour", "expected"), [
    ({"state": "job-exclusive", "np": "36", "jobs": "0-35/63779.srv"}, "torque", (36, 36, True)),
    ({"state": "free", "np": "8", "jobs": "0-3/1.srv,4,6-7/2.srv"}, "torque", (8, 7, True)),
    ({"state": "free", "np": "4", "jobs": "0/7.srv, 1/7.srv"}, "torque", (4, 2, True)),
    ({"state": "busy", "np": "4"}, "torque", (4, 4, True)),
    ({"state": "offline", "np": "4"}, "torque", (4, 0, False)),
    ({"state": "down,job-exclusive", "np": "4"}, "torque", (4, 4, False)),
    ({"state": "job-busy", "resources_available.ncpus": "128",
      "resources_assigned.ncpus": "64"}, "pbspro", (128, 64, True)),
    ({"state": "free", "pcpus": "16"}, "pbspro", (16, 0, True)),
    ({"state": "resv-exclusive", "resources_available.ncpus": "8"}, "pbspro", (8, 8, True)),
    ({"state": "free", "resources_available.ncpus": "8", "resources_assigned.ncpus": "12"},
     "pbspro", (8, 8, True)),
])
def test_node_slots(node: dict[str, str], flavour: str, expected: tuple[int, int, bool]) -> None:
    """Synthetic nodes in the formats of Torque pbsnodes(8) (2-4: one entry per slot,
    5-6: slot ranges) and the PBS Pro RG vnode attributes and states."""
    assert node_slots(node, flavour) == expected  # type: ignore[arg-type]


def test_pbsnodes_shapes() -> None:
    """Synthetic: empty output, attributes before any node, a line without ` = `."""
    assert parse_pbsnodes("") == []
    text = "   orphan = 1\nn1\n     state = free\n     garbage\n     np = 2\n\nn2\n"
    assert parse_pbsnodes(text) == [{NODE: "n1", "state": "free", "np": "2"}, {NODE: "n2"}]


def test_queue_totals() -> None:
    """`qstat -q` as the Torque and PBS Pro manuals print it (synthetic)."""
    text = ("server: head\n\nQueue            Memory CPU Time Walltime Node  Run Que Lm  State\n"
            "---------------- ------ -------- -------- ----  --- --- --  -----\n"
            "batch              --      --    72:00:00   --  133   8 --   E R\n"
            "long               --      --    504:00:0   --    1   0 --   E R\n"
            "                                               ----- -----\n"
            "                                                 134     8\n")
    assert parse_queue_totals(text) == (134, 8)
    assert parse_queue_totals("qstat: cannot connect to server\n") is None


def test_count_job_states_pbspro_select_format() -> None:
    """The `qstat -u` line quoted in OpenPBS PR #2675 (PBS 23.06.06), plus synthetic rows."""
    text = ("VMa: \n"
            "                                                            Req'd  Req'd   Elap\n"
            "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n"
            "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n"
            "2000.VMa        amehm5   workq    STDIN        6410   1   1    --    --  R 25:26\n"
            "2001.VMa        amehm5   workq    my job        --    1   1    --  01:00 Q   -- \n"
            "2002[].VMa      amehm5   workq    arr           --    1   1    --  01:00 B   -- \n")
    assert count_job_states(text) == {"R": 1, "Q": 1, "B": 1}


def test_split_tracejob() -> None:
    """Two recorded tracejob outputs (OpenPBS, Torque) as one shell loop prints them."""
    text = read("pbspro/tracejob-openpbs-finished.txt") + read("torque/tracejob-completed.txt")
    chunks = split_tracejob("tracejob: some warning\n" + text)
    assert [tracejob_records(chunk)[0] for chunk in chunks] == ["110.n001", "123"]
    assert split_tracejob("") == []


@pytest.mark.parametrize(("job_id", "short"), [
    ("1234.pbs01", "1234"), ("1234.pbs01.example.org", "1234"), ("1234", "1234"),
    ("7[2].srv", "7[2]"), ("4345644.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov", "4345644"),
])
def test_short_id(job_id: str, short: str) -> None:
    """Ids as qsub and qstat print them (synthetic; forms from the recorded fixtures)."""
    assert short_id(job_id) == short


def test_max_array_size() -> None:
    """``qmgr -c 'print server'`` lines (synthetic, in qmgr's ``set server NAME = VALUE``
    form); unset: PBS Pro's default 10000 (RG "Server Attributes"), Torque none."""
    text = "#\n# Set server attributes.\n#\nset server scheduling = True\n"
    assert max_array_size(text + "set server max_array_size = 500\n", "pbspro") == 500
    assert max_array_size(text, "pbspro") == 10000
    assert max_array_size(text + "set server max_job_array_size = 64\n", "torque") == 64
    assert max_array_size(text + "set server max_array_size = 500\n", "torque") == sys.maxsize


def test_qstat_f_tab_indented_attributes() -> None:
    """Synthetic, in the layout of Slurm's Torque wrapper: TAB-indented attributes,
    and a block with 4-space attributes and TAB continuations after it."""
    text = ("Job Id:\t5\n\tjob_state = R\n\tqueue = debug\n\n"
            "Job Id: 6.srv\n    job_state = Q\n    Variable_List = A=1,\n\tB=2\n")
    assert parse_qstat_f(text) == [
        {JOB_ID: "5", "job_state": "R", "queue": "debug"},
        {JOB_ID: "6.srv", "job_state": "Q", "Variable_List": "A=1,B=2"}]
