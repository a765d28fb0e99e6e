"""The job store's records, as ``lrms status`` reads them: compact, trusted, still checked.

``Job.to_json`` leaves out the fields at their default, ``Job.from_json`` reads a record
back without checking each application field again; a record of the wrong shape is
still refused, and records written whole (by earlier versions) still read.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

import lrms
from lrms import Application, Dependency, Duration, Job, Memory, State, TerminationReason


def every_field() -> Job:
    app = Application(
        ["python3", "sim.py", "--n", "1"], inputs={"/data/in.csv": "in.csv"},
        outputs=["out.json"], stdout="o", stderr="e", stdin="in.csv",
        environment={"MODE": "fast"}, jobname="sim", requested_cores=2,
        requested_memory=Memory("3GiB"), requested_walltime=Duration("2h"),
        requested_architecture="x86_64", extra={"slurm": {"partition": "debug"}},
        workdir="/scratch/w", requested_gpus=1, account="acct", qos="high",
        reservation="res", email="a@example.org", email_events="begin,end", hold=True,
        earliest_start=1.5e9, after=[Dependency("20260101000000-aaaaaaaaaa", "any")],
        nodes=2, tasks_per_node=3, exclusive=True, constraint="intel", launcher="srun")
    job = Job(app)
    job.resource, job.native_id, job.sandbox = "cluster", "42", "/scratch/lrms/x"
    for state in (State.SUBMITTED, State.RUNNING, State.TERMINATED):
        job.state = state
    job.record_outcome(exitcode=0, signal=9, reason=TerminationReason.CANCELLED,
                       walltime=Duration(61), cputime=Duration(30), max_memory=Memory(2**20))
    job.status_message, job.backend_data = "done", {"array": "7"}
    job.tag, job.output_dir, job.attempt = "t", "/out", 2
    job.retry_of, job.replaced_by, job.fetched = "a", "b", 3.5
    job.fetch_error, job.single = "no", True
    return job


def test_a_record_keeps_every_field():
    job = every_field()
    again = Job.from_json(job.to_json())
    assert again.to_dict() == job.to_dict()
    assert again.app == job.app and again.history == job.history


def test_a_record_leaves_out_the_fields_at_their_default():
    job = Job(Application(["echo", "hi"]))
    record = json.loads(job.to_json())
    assert set(record) == {"app", "jobid", "history"}
    assert record["app"] == {"arguments": ["echo", "hi"], "jobname": "echo"}
    assert len(job.to_json()) * 3 < len(json.dumps(job.to_dict()))
    again = Job.from_json(job.to_json())
    assert again.to_dict() == job.to_dict()
    assert again.app == job.app


def test_a_whole_record_of_an_earlier_version_still_reads():
    job = every_field()
    assert Job.from_json(json.dumps(job.to_dict())).to_dict() == job.to_dict()


@pytest.mark.parametrize("spoil", [
    lambda data: data["app"].update(colour="red"),
    lambda data: data["app"].update(arguments="echo hi"),
    lambda data: data["app"].update(arguments=["echo", 1]),
    lambda data: data["app"].update(requested_architecture="vax"),
    lambda data: data.update(jobid=7),
    lambda data: data.update(termination_reason="exploded"),
    lambda data: data["history"].append(["EXPLODED", 1.0]),
], ids=["unknown field", "argv a string", "argv not strings", "unknown architecture",
        "jobid a number", "unknown reason", "unknown state"])
def test_a_record_of_the_wrong_shape_is_refused(spoil):
    data = every_field().to_dict()
    spoil(data)
    with pytest.raises((ValueError, TypeError, KeyError)):
        Job.from_json(json.dumps(data))


def test_status_reads_compact_and_whole_records_alike(cli, tmp_path):
    whole, compact = every_field(), Job(Application(["true"]))
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        store.add([whole, compact])
    with sqlite3.connect(tmp_path / "jobs.db") as db:  # as an earlier lrms wrote it
        db.execute("UPDATE jobs SET data = ? WHERE jobid = ?",
                   (json.dumps(whole.to_dict()), whole.jobid))
    db.close()
    done = cli("status", "--no-refresh", "--all", "--json")
    assert done.code == 0, done.err
    shown = json.loads(done.out)
    assert [job["jobid"] for job in shown] == [whole.jobid, compact.jobid]
    assert shown[0]["app"] == whole.app.to_dict() and shown[0]["failed"] is False
    assert shown[1]["app"] == compact.app.to_dict() and shown[1]["state"] == "NEW"
