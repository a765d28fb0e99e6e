"""Job arrays in the core: ``LRMS.submit_jobs``, its one-by-one fallback, and the batch
template's array machinery, run for real by a tiny backend whose "scheduler" runs the array's
dispatcher script with bash once per task index."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinyq import AtOnce

import lrms
from lrms.batch import BatchBackend, Submission
from lrms.cli.render import job_dict, job_table

# Runs the dispatcher ($4) in the array directory ($1) for indices $2..$3, as a scheduler
# would; the array's id is the shell's pid.  Each submission is appended to ../../log.
_RUN_ARRAY = ('cd "$1" || exit 1; echo "$$ $2 $3 $5" >> ../../log; i=$2; '
              'while [ "$i" -le "$3" ]; do TINY_ARRAY_ID=$$ TINY_TASK=$i bash "$4" '
              '> /dev/null 2>&1; i=$((i + 1)); done; echo "$$"')


class TinyArrays(AtOnce):
    """Runs each job script, and each array task, at once; at most 3 tasks per array."""

    name = "tinyarrays"
    task_index_variable = "$TINY_TASK"
    task_id_variable = "${TINY_ARRAY_ID}_${TINY_TASK}"

    def array_command(self, app, array_dir, script, first, last, throttle):
        return Submission(["/bin/sh", "-c", _RUN_ARRAY, "sh", array_dir, str(first), str(last),
                           script, str(throttle)])

    def task_id(self, array_id, index):
        return f"{array_id}_{index}"

    def max_array_size(self):
        return 3


class FromOne(TinyArrays):
    """Numbers tasks from 1, as Grid Engine does."""

    first_index = 1


class Queueing(TinyArrays):
    """Queues arrays without running them ("id|workdir" lines in ../../queue) and finds
    them there by working directory, as a scheduler's search would."""

    def array_command(self, app, array_dir, script, first, last, throttle):
        return Submission(["/bin/sh", "-c", 'echo "$$|$1" >> "$1/../../queue"; echo "$$"',
                           "sh", array_dir])

    def searches(self):
        return [self.queued]

    def queued(self, wanted):
        queue = Path(self.spool, "queue")
        lines = queue.read_text().splitlines() if queue.exists() else []
        return {wanted[workdir].jobid: native for native, workdir in
                (line.split("|") for line in lines) if workdir in wanted}


class Unlimited(TinyArrays):
    """Its scheduler sets no maximum array size (Grid Engine's max_aj_tasks 0)."""

    def max_array_size(self):
        return 0


class Forgetful(TinyArrays):
    """Its scheduler forgets arrays once they have run: only the tasks' records are left."""

    def searches(self):
        return [lambda wanted: {}]


class Cancelling(Queueing):
    """Logs each cancel command to ../../cancels."""

    def cancel_command(self, job):
        return ["/bin/sh", "-c", 'echo "$1" >> "$2"', "sh", job.native_id,
                str(Path(self.spool, "cancels"))]


class Refusing(TinyArrays):
    """Its scheduler refuses the second array."""

    def array_command(self, app, array_dir, script, first, last, throttle):
        log = Path(self.spool, "log")
        if log.exists():
            return Submission(["/bin/sh", "-c", "echo 'tinyq: too many arrays' >&2; exit 1"])
        return super().array_command(app, array_dir, script, first, last, throttle)


class Single(BatchBackend):
    """The same scheduler, by a backend without arrays (no ``array_command``)."""

    submit_command, parse_job_id, query, cancel_command = (
        TinyArrays.submit_command, TinyArrays.parse_job_id, TinyArrays.query,
        TinyArrays.cancel_command)
    get_resource_status = TinyArrays.get_resource_status


@pytest.fixture
def make(tmp_path):
    made = []

    def make(backend):
        res = lrms.LRMS(backend.__name__, ["x86_64"], 2, 2, "1GiB", "1h", backend=backend,
                        spool=str(tmp_path / "spool"))
        made.append(res)
        return res

    yield make
    for res in made:
        res.close()


def sweep(count, **requests):
    """Tasks that differ in argv, stdout and name: task i prints its index and exits i."""
    apps = [lrms.Application(["sh", "-c", 'echo "$1 $LRMS_TASK_INDEX"; exit "$1"', "sh",
                              str(i)], stdout=f"out{i}", jobname=f"t{i}", **requests)
            for i in range(count)]
    return apps, [lrms.Job(app) for app in apps]


def submissions(res):
    return Path(res.backend.spool, "log").read_text().splitlines()


def test_each_task_runs_its_own_argv_in_its_own_sandbox_with_its_index(make):
    res = make(TinyArrays)
    assert res.can("submit_jobs")
    apps, jobs = sweep(3)
    assert res.submit_jobs(apps, jobs, throttle=2) == jobs
    [(array, first, last, throttle)] = [line.split() for line in submissions(res)]
    assert (first, last, throttle) == ("0", "2", "2")
    assert len({job.sandbox for job in jobs}) == 3
    for job in jobs:
        job.state = lrms.State.SUBMITTED
    res.update_job_states(jobs)
    for i, job in enumerate(jobs):
        assert job.native_id == f"{array}_{i}"
        assert job.backend_data == {"array": array, "task_index": i}
        assert job.resource == res.name
        assert Path(job.sandbox, f"out{i}").read_text() == f"{i} {i}\n"
        assert (job.state, job.exitcode) == (lrms.State.TERMINATED, i)
        assert Path(job.sandbox, ".lrms", "native_id").read_text() == f"{array}_{i}\n"


def test_indices_follow_the_scheduler_and_arrays_split_at_their_maximum(make):
    res = make(FromOne)
    apps, jobs = sweep(7)
    res.submit_jobs(apps, jobs)
    logged = [line.split() for line in submissions(res)]
    assert [(first, last) for _, first, last, _ in logged] == [("1", "3"), ("1", "3"),
                                                               ("1", "1")]
    arrays = [array for array, *_ in logged]
    assert [job.native_id for job in jobs] == [
        f"{arrays[i // 3]}_{i % 3 + 1}" for i in range(7)]
    for i, job in enumerate(jobs):
        assert Path(job.sandbox, f"out{i}").read_text() == f"{i} {i % 3 + 1}\n"


def test_no_maximum_array_size_is_one_array(make):
    res = make(Unlimited)
    apps, jobs = sweep(5)
    res.submit_jobs(apps, jobs)
    assert [line.split()[1:3] for line in submissions(res)] == [["0", "4"]]


def test_a_refused_array_keeps_the_arrays_before_it_and_leaves_nothing_of_its_own(make):
    res = make(Refusing)
    apps, jobs = sweep(5)
    with pytest.raises(lrms.SubmissionRefused, match="too many arrays"):
        res.submit_jobs(apps, jobs)
    assert all(job.native_id and job.resource == res.name for job in jobs[:3])
    assert [(job.native_id, job.sandbox, job.resource, job.backend_data)
            for job in jobs[3:]] == [(None, None, None, {})] * 2
    assert sorted(p.name for p in Path(res.backend.spool, "arrays").iterdir()) == [jobs[0].jobid]


def test_mixed_requests_are_refused_before_anything_is_sent(make):
    res = make(TinyArrays)
    apps, jobs = sweep(2)
    apps.append(lrms.Application(["true"], requested_cores=2))
    jobs.append(lrms.Job(apps[-1]))
    with pytest.raises(ValueError, match="differ in requested_cores"):
        res.submit_jobs(apps, jobs)
    assert not Path(res.backend.spool, "log").exists()
    assert all(job.native_id is None for job in jobs)


def test_a_backend_without_arrays_submits_one_by_one(make):
    res = make(Single)
    assert not res.can("submit_jobs")
    apps, jobs = sweep(3)
    res.submit_jobs(apps, jobs, throttle=1)
    assert not Path(res.backend.spool, "log").exists()
    assert len({job.native_id for job in jobs}) == 3
    assert all("array" not in job.backend_data for job in jobs)
    assert [Path(job.sandbox, f"out{i}").read_text() for i, job in enumerate(jobs)] == [
        "0 \n", "1 \n", "2 \n"]


def forget(job):
    return lrms.Job(job.app, jobid=job.jobid)


def test_interrupted_arrays_are_found_queued_by_their_directory(make):
    res = make(Queueing)
    apps, jobs = sweep(4)
    res.submit_jobs(apps, jobs)
    lost = [forget(job) for job in jobs]
    never = lrms.Job(apps[0])
    assert res.find_jobs([*lost, never]) == [True, True, True, True, False]
    for job, again in zip(jobs, lost, strict=True):
        assert (again.native_id, again.sandbox, again.backend_data) == (
            job.native_id, job.sandbox, job.backend_data)


def test_interrupted_tasks_that_ran_are_found_by_their_record(make):
    res = make(Forgetful)
    apps, jobs = sweep(4)
    res.submit_jobs(apps, jobs)
    lost = [forget(job) for job in jobs]
    assert res.find_jobs(lost) == [True] * 4
    assert [job.native_id for job in lost] == [job.native_id for job in jobs]


def test_the_dispatcher_runs_the_task_of_the_scheduler_index(make):
    res = make(TinyArrays)
    apps, jobs = sweep(2)
    res.submit_jobs(apps, jobs)
    dispatcher = Path(res.backend.array_dir(jobs[0].jobid), "job.sh").read_text()
    assert "$TINY_TASK - 0 + 1" in dispatcher
    tasks = Path(res.backend.array_dir(jobs[0].jobid), "tasks").read_text().splitlines()
    assert tasks == [job.sandbox for job in jobs]


# -- the engine: grouping by requests, max_in_flight as the throttle ----------------------


def engine_on(tmp_path, backend, **options):
    """An engine whose resource "tiny" is served by ``backend`` (shellcmd in the config)."""
    config = tmp_path / "site.yaml"
    config.write_text(
        "resources:\n  tiny:\n    backend: shellcmd\n    max_cores: 2\n"
        "    max_cores_per_job: 2\n    max_memory_per_core: 1GiB\n    max_walltime: 1h\n"
        f"    architecture: [x86_64]\n    spool: {tmp_path / 'spool'}\n")
    engine = lrms.Engine(str(config), tmp_path / "jobs.db", output_root=tmp_path / "out",
                         **options)
    engine.config._built["tiny"] = lrms.LRMS(
        "tiny", ["x86_64"], 2, 2, "1GiB", "1h", backend=backend, spool=str(tmp_path / "spool"),
        poll_interval=0)  # asked in every round
    return engine


def test_the_engine_submits_arrays_by_requests_throttled_by_max_in_flight(tmp_path):
    apps, _ = sweep(5)
    odd = lrms.Application(["sh", "-c", "exit 9"], requested_cores=2)
    with engine_on(tmp_path, TinyArrays, max_in_flight=2) as engine:
        jobs = engine.add([*apps, odd])
        done = engine.progress()
        assert len(done.submitted) == 6  # max_in_flight holds none back: it throttles
        logged = [line.split() for line in Path(tmp_path, "spool", "log").read_text().splitlines()]
        assert [(first, last, throttle) for _, first, last, throttle in logged] == [
            ("0", "2", "2"), ("0", "1", "2")]
        jobs = [engine.get(job.jobid) for job in jobs]
        assert [job.backend_data.get("array") for job in jobs] == [
            logged[0][0]] * 3 + [logged[1][0]] * 2 + [None]
        engine.progress()
        assert [engine.get(job.jobid).exitcode for job in jobs] == [0, 1, 2, 3, 4, 9]


def test_without_arrays_max_in_flight_holds_jobs_back(tmp_path):
    apps, _ = sweep(3)
    with engine_on(tmp_path, TinyArrays, max_in_flight=2, arrays=False) as engine:
        engine.add(apps)
        assert len(engine.progress().submitted) == 2
        assert not Path(tmp_path, "spool", "log").exists()


def test_a_backend_without_arrays_keeps_max_in_flight(tmp_path):
    apps, _ = sweep(3)
    with engine_on(tmp_path, Single, max_in_flight=2) as engine:
        engine.add(apps)
        assert len(engine.progress().submitted) == 2


def test_failed_tasks_are_retried_as_a_smaller_array(tmp_path):
    apps, _ = sweep(3)
    with engine_on(tmp_path, TinyArrays, retries=1) as engine:
        first = engine.add(apps)
        engine.progress()
        done = engine.progress()
        assert [job.app.jobname for job in done.resubmitted] == ["t1", "t2"]
        assert {job.jobid for job in done.submitted} == {job.jobid for job in done.resubmitted}
        logged = [line.split() for line in Path(tmp_path, "spool", "log").read_text().splitlines()]
        assert [(first_, last) for _, first_, last, _ in logged] == [("0", "2"), ("0", "1")]
        retried = [engine.get(job.jobid) for job in done.resubmitted]
        assert [(job.attempt, job.backend_data["array"]) for job in retried] == [
            (2, logged[1][0])] * 2
        assert engine.get(first[0].jobid).replaced_by is None


def test_status_shows_the_array_of_each_task(make):
    res = make(TinyArrays)
    apps, jobs = sweep(2)
    res.submit_jobs(apps, jobs)
    array = jobs[0].backend_data["array"]
    lines = job_table(jobs, colour=False).splitlines()
    assert lines[0].split()[4:8] == ["NATIVE", "ID", "ARRAY", "EXIT"]
    assert all(line.split()[5] == array for line in lines[1:])
    assert [job_dict(job)["array"] for job in jobs] == [array] * 2
    single = lrms.Job(lrms.Application(["true"]))
    assert "ARRAY" not in job_table([single], colour=False)
    assert job_dict(single)["array"] is None


def test_cancelling_every_unfinished_task_cancels_each_array_at_once(tmp_path):
    apps, _ = sweep(5)
    with engine_on(tmp_path, Cancelling) as engine:
        jobs = engine.add(apps)
        engine.progress()
        jobs = [engine.get(job.jobid) for job in jobs]
        arrays = [job.backend_data["array"] for job in jobs]
        assert engine.cancel_arrays(jobs[:2]) == []  # the array has a third task
        assert engine.cancel_arrays(jobs) == jobs
        assert Path(tmp_path, "spool", "cancels").read_text().split() == [arrays[0], arrays[3]]
        assert {engine.get(job.jobid).state for job in jobs} == {lrms.State.TERMINATING}
        engine.progress()  # the scheduler forgot them: ended by the cancel
        ended = [engine.get(job.jobid) for job in jobs]
        assert {(job.state, job.termination_reason) for job in ended} == {
            (lrms.State.TERMINATED, lrms.TerminationReason.CANCELLED)}


def test_a_spool_path_with_a_newline_is_refused_for_arrays(tmp_path):
    res = lrms.LRMS("nl", ["x86_64"], 2, 2, "1GiB", "1h", backend=TinyArrays,
                    spool=str(tmp_path / "a\nb"))
    apps, jobs = sweep(2)
    with pytest.raises(lrms.LRMSError, match="path has a newline"):
        res.submit_jobs(apps, jobs)
    assert all(job.native_id is None and job.sandbox is None for job in jobs)
    res.close()


def test_jobs_added_without_arrays_stay_single_in_a_later_engine_s_rounds(tmp_path):
    """``--no-array`` is kept with each job: another engine's rounds submit it alone."""
    apps, _ = sweep(3)
    with engine_on(tmp_path, TinyArrays, arrays=False) as adding:
        jobs = adding.add(apps)
        assert all(adding.get(job.jobid).single for job in jobs)
    with engine_on(tmp_path, TinyArrays) as later:  # arrays on, as in 'lrms status'
        assert len(later.progress().submitted) == 3
        assert not Path(tmp_path, "spool", "log").exists()  # no array_command at all
        assert all("array" not in later.get(job.jobid).backend_data for job in jobs)
