"""The portable job template: Application fields, Dependency, totals and the facade's refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess

import pytest
from tinyq import QuietBatch

import lrms
from lrms import Application, Dependency, Job, LimitExceeded
from lrms.application import CORE_FIELDS, TEMPLATE_FIELDS
from lrms.batch import Submission

EVERY_FIELD = {
    "workdir": "~/runs/a", "stdin": "in.txt", "requested_gpus": 2, "account": "proj1",
    "qos": "high", "reservation": "maint", "email": "a@example.org",
    "email_events": ("begin", "fail"), "hold": True, "earliest_start": 1796637600.0,
    "after": ("20261206-aaaa:any", Dependency("20261206-bbbb", "ok", "42")),
    "nodes": 2, "tasks_per_node": 4, "exclusive": True, "constraint": "intel&ib",
    "launcher": "srun",
}

# -- Application -----------------------------------------------------------------------


def test_every_template_field_is_covered_here():
    assert set(EVERY_FIELD) == set(TEMPLATE_FIELDS)


def test_defaults_request_nothing():
    app = Application(["true"])
    assert app.template_requests() == {}
    assert (app.workdir, app.requested_gpus, app.nodes, app.tasks_per_node) == (None, 0, 1, 1)
    assert (app.hold, app.exclusive, app.after, app.email_events) == (False, False, (), ())


def test_every_field_set_and_requested():
    app = Application(["true"], **EVERY_FIELD)
    assert set(app.template_requests()) == set(TEMPLATE_FIELDS)
    assert app.after == (Dependency("20261206-aaaa", "any"),
                         Dependency("20261206-bbbb", "ok", "42"))
    assert app.email_events == ("begin", "fail")
    assert (app.total_cores, app.total_gpus) == (8, 4)


def test_template_round_trips_through_json():
    app = Application(["true"], **EVERY_FIELD)
    again = Application.from_dict(json.loads(json.dumps(app.to_dict())))
    assert again == app
    assert again.after[1].native_id == "42"


def test_a_record_written_before_the_template_still_loads():
    old = Application(["true"]).to_dict()
    for field in TEMPLATE_FIELDS:
        if field != "stdin":
            del old[field]
    assert Application.from_dict(old) == Application(["true"])


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("workdir", "runs/a", "workdir must be an absolute directory"),
        ("workdir", "~alice/x", "workdir"),
        ("workdir", "/a\nb", "workdir"),
        ("requested_gpus", -1, "requested_gpus must be an int of at least 0"),
        ("requested_gpus", True, "requested_gpus"),
        ("nodes", 0, "nodes must be a positive int"),
        ("tasks_per_node", 1.5, "tasks_per_node must be a positive int"),
        ("account", "", "account must be a non-empty word"),
        ("qos", "a b", "qos must be a non-empty word"),
        ("reservation", "r\n#SBATCH --x", "reservation"),
        ("constraint", 5, "constraint"),
        ("email_events", ("begin", "never"), "email_events must be among begin, end, fail"),
        ("hold", "yes", "hold must be true or false"),
        ("exclusive", 1, "exclusive must be true or false"),
        ("earliest_start", float("nan"), "earliest_start must be a POSIX time"),
        ("earliest_start", "tomorrow", "earliest_start"),
        ("after", ["a:maybe"], "after: a dependency is JOBID[:ok|:any]"),
        ("after", [":ok"], "after: dependency job id"),
        ("launcher", "bash", "launcher must be one of srun, mpirun, mpiexec"),
    ],
)
def test_bad_template_values_name_the_field(field, value, needle):
    with pytest.raises(ValueError, match="^" + needle.replace("[", r"\[").replace("|", r"\|")):
        Application(["true"], **{field: value})


def test_email_events_need_an_address():
    with pytest.raises(ValueError, match="email_events needs an email address"):
        Application(["true"], email_events="end")
    assert Application(["true"], email="me", email_events="fail,begin").email_events == (
        "begin", "fail")


def test_dependencies_parse_and_deduplicate():
    app = Application(["true"], after=["a", "a:ok", "b:any"])
    assert app.after == (Dependency("a"), Dependency("b", "any"))
    assert [str(d) for d in app.after] == ["a:ok", "b:any"]
    assert Application(["true"], after="c").after == (Dependency("c"),)
    with pytest.raises(ValueError, match="condition must be ok or any"):
        Dependency("a", "afterok")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Dependency("a").jobid = "b"  # type: ignore[misc]


def test_dependency_failed_is_a_termination_reason():
    assert lrms.TerminationReason("dependency_failed") is lrms.TerminationReason.DEPENDENCY_FAILED


# -- the facade --------------------------------------------------------------------------


def local(tmp_path, **limits):
    return lrms.LRMS("loc", ["x86_64"], 8, 8, "1GiB", "1h", backend="shellcmd",
                     spool=str(tmp_path / "spool"), **limits)


def sandboxes(tmp_path):
    jobs = tmp_path / "spool" / "jobs"
    return list(jobs.iterdir()) if jobs.exists() else []


@pytest.mark.parametrize(
    ("field", "shown"),
    [("account", "account=proj1"), ("hold", "hold=true"),
     ("email_events", "email=a@example.org"),
     ("after", "after=20261206-aaaa:any,20261206-bbbb:ok"), ("nodes", "nodes=2"),
     ("exclusive", "exclusive=true"), ("constraint", "constraint=intel&ib")],
)
def test_shellcmd_refuses_what_it_cannot_map_before_anything_is_sent(tmp_path, field, shown):
    values = {field: EVERY_FIELD[field]}
    if field == "email_events":
        values["email"] = EVERY_FIELD["email"]
    app = Application(["true"], jobname="j1", **values)
    with local(tmp_path) as res, pytest.raises(LimitExceeded) as info:
        res.submit_job(app, Job(app))
    assert str(info.value) == (
        f"resource loc (backend shellcmd) cannot honour {shown} of job 'j1': shellcmd has no "
        "such request; remove it or choose another resource")
    assert sandboxes(tmp_path) == []


def test_core_fields_are_never_refused(tmp_path):
    app = Application(["true"], **{f: EVERY_FIELD[f] for f in CORE_FIELDS})
    with local(tmp_path) as res:
        res.check_request(app)


def test_totals_are_checked_against_the_limits(tmp_path):
    class Wide(Tiny):
        template_fields = frozenset({"nodes", "tasks_per_node", "requested_gpus"})

    res = lrms.LRMS("wide", ["x86_64"], 8, 8, "1GiB", "1h", backend=Wide,
                    spool=str(tmp_path / "spool"), max_gpus_per_job=4)
    with res:
        res.check_request(Application(["true"], nodes=2, tasks_per_node=2, requested_cores=2,
                                      requested_memory="8GiB", requested_gpus=2))
        with pytest.raises(LimitExceeded, match=r"16 cores requested \(2 node\(s\) x 4 task\(s\) "
                                                r"x 2 core\(s\)\), max_cores_per_job is 8"):
            res.check_request(Application(["true"], nodes=2, tasks_per_node=4, requested_cores=2))
        with pytest.raises(LimitExceeded, match="limit for 4 core"):
            res.check_request(Application(["true"], nodes=2, tasks_per_node=2,
                                          requested_memory="5GiB"))
        with pytest.raises(LimitExceeded, match="6 GPUs requested, max_gpus_per_job is 4"):
            res.check_request(Application(["true"], nodes=2, requested_gpus=3))


def test_a_resource_without_gpus_refuses_gpu_jobs(tmp_path):
    class Gpu(Tiny):
        template_fields = frozenset({"requested_gpus"})

    with lrms.LRMS("g", ["x86_64"], 1, 1, "1GiB", "1h", backend=Gpu,
                   spool=str(tmp_path / "spool")) as res:
        assert res.max_gpus_per_job == 0
        with pytest.raises(LimitExceeded, match="1 GPUs requested, max_gpus_per_job is 0"):
            res.check_request(Application(["true"], requested_gpus=1))


@pytest.mark.parametrize("value", [-1, True, "2"])
def test_max_gpus_per_job_is_checked(tmp_path, value):
    with pytest.raises(ValueError, match="max_gpus_per_job must be an int of at least 0"):
        local(tmp_path, max_gpus_per_job=value)


# -- a batch backend: dry_run refuses too ------------------------------------------------


class Tiny(QuietBatch):
    """A batch backend that maps accounts and dependencies; its scheduler is /bin/sh."""

    name = "tiny"
    template_fields = frozenset({"account", "after"})

    def submit_command(self, app, job, sandbox, script):
        account = [f"--account={app.account}"] if app.account else []
        return Submission(["/bin/sh", script, *account])

    def parse_job_id(self, result):
        return "1"


@pytest.fixture
def tiny(tmp_path):
    with lrms.LRMS("tq", ["x86_64"], 2, 2, "1GiB", "1h", backend=Tiny,
                   spool=str(tmp_path / "spool")) as res:
        yield res


def test_dry_run_maps_what_the_backend_declares(tiny):
    app = Application(["true"], account="proj1", after=[Dependency("x", "any", "7")])
    _, submission = tiny.backend.dry_run(app, Job(app))
    assert submission.argv[-1] == "--account=proj1"


def test_dry_run_refuses_a_field_the_backend_does_not_map(tiny, tmp_path):
    app = Application(["true"], jobname="q", qos="high")
    with pytest.raises(LimitExceeded, match=r"^resource tq \(backend tiny\) cannot honour "
                                            r"qos=high of job 'q': tiny has no such request"):
        tiny.backend.dry_run(app, Job(app))
    assert sandboxes(tmp_path) == []


def test_a_native_dependency_needs_its_native_id(tiny, tmp_path):
    app = Application(["true"], jobname="d", after=["20261206-x:ok"])
    with pytest.raises(LimitExceeded, match="cannot honour after=20261206-x:ok of job 'd': tiny "
                                            "needs the native id"):
        tiny.submit_job(app, Job(app))
    assert sandboxes(tmp_path) == []


def test_earliest_start_is_shown_as_a_time(tiny):
    app = Application(["true"], earliest_start=0)
    with pytest.raises(LimitExceeded, match=r"earliest_start=19\d\d-\d\d-\d\dT"):
        tiny.check_request(app)


@pytest.mark.parametrize(("value", "expected"), [("", 0), ("    max_gpus_per_job: 4\n", 4)])
def test_max_gpus_per_job_from_the_config(tmp_path, value, expected):
    path = tmp_path / "c.yaml"
    path.write_text("resources:\n  g:\n    backend: shellcmd\n    max_cores: 1\n"
                    "    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
                    f"    max_walltime: 1h\n    architecture: [x86_64]\n{value}")
    config = lrms.load_config(path)
    assert config.resource("g").max_gpus_per_job == expected
    config.close()


def test_negative_max_gpus_per_job_in_the_config_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("resources:\n  g:\n    backend: shellcmd\n    max_cores: 1\n"
                    "    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
                    "    max_walltime: 1h\n    architecture: [x86_64]\n    max_gpus_per_job: -2\n")
    with pytest.raises(lrms.ConfigError, match=r"c.yaml:9: resources.g.max_gpus_per_job: "
                                               r"expected 0 or more, got -2"):
        lrms.load_config(path)


# -- the job script: environment, workdir, launcher -------------------------------------


def run_script(tmp_path, app, jobid="20261206-envjob"):
    """Render ``app``'s job script for a sandbox in ``tmp_path``, run it with bash; the sandbox."""
    from lrms.batch import render_script

    sandbox = tmp_path / "sand box"
    (sandbox / ".lrms").mkdir(parents=True)
    script = render_script(app, Job(app, jobid=jobid), str(sandbox))
    (sandbox / ".lrms" / "job.sh").write_text(script)
    subprocess.run(["bash", str(sandbox / ".lrms" / "job.sh")], timeout=60,
                   env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    return sandbox


ENV_PRINTER = ["sh", "-c", 'for v in LRMS_JOB_ID LRMS_CORES LRMS_GPUS LRMS_SANDBOX '
               'OMP_NUM_THREADS; do eval "echo $v=\\$$v"; done; pwd']


def test_the_job_sees_its_environment(tmp_path):
    app = Application(ENV_PRINTER, requested_cores=3, requested_gpus=2)
    sandbox = run_script(tmp_path, app)
    assert (sandbox / "stdout").read_text().splitlines() == [
        "LRMS_JOB_ID=20261206-envjob", "LRMS_CORES=3", "LRMS_GPUS=2", f"LRMS_SANDBOX={sandbox}",
        "OMP_NUM_THREADS=3", str(sandbox)]


def test_the_application_environment_wins_over_omp_num_threads(tmp_path):
    app = Application(ENV_PRINTER, requested_cores=3, environment={"OMP_NUM_THREADS": "1"})
    lines = (run_script(tmp_path, app) / "stdout").read_text().splitlines()
    assert "OMP_NUM_THREADS=1" in lines and "LRMS_CORES=3" in lines


@pytest.mark.parametrize("where", ["absolute", "home"])
def test_workdir_runs_there_and_streams_stay_in_the_sandbox(tmp_path, where):
    work = tmp_path / "my work" / "$(id)"
    work.mkdir(parents=True)
    (tmp_path / "sand box").mkdir()
    (tmp_path / "sand box" / "in.txt").write_text("from stdin\n")
    workdir = str(work) if where == "absolute" else "~/my work/$(id)"
    app = Application(["sh", "-c", "pwd; cat; echo oops >&2; touch here"], workdir=workdir,
                      stdin="in.txt")
    sandbox = run_script(tmp_path, app)
    assert (sandbox / "stdout").read_text() == f"{work}\nfrom stdin\n"
    assert (sandbox / "stderr").read_text() == "oops\n"
    assert (work / "here").exists() and not (sandbox / "here").exists()
    assert (sandbox / ".lrms" / "exit").read_text() == "0\n"


def test_a_workdir_that_cannot_be_entered_fails_the_job_and_says_why(tmp_path):
    app = Application(["touch", "ran"], workdir=str(tmp_path / "missing"))
    sandbox = run_script(tmp_path, app)
    assert (sandbox / ".lrms" / "exit").read_text() == "126\n"
    said = f"lrms: cannot run in workdir {tmp_path / 'missing'} on "
    assert said in (sandbox / "stderr").read_text()
    assert (sandbox / ".lrms" / "error").read_text().startswith(said)
    assert not (sandbox / "ran").exists()


@pytest.mark.parametrize(("launcher", "expected"), [
    ("srun", ["srun", "prog", "a b"]), ("mpirun", ["mpirun", "-n", "6", "prog", "a b"]),
    ("mpiexec", ["mpiexec", "-n", "6", "prog", "a b"]), (None, ["prog", "a b"])])
def test_the_launcher_starts_the_program_once_per_task(launcher, expected):
    from lrms.batch import task_argv

    app = Application(["prog", "a b"], launcher=launcher, nodes=2, tasks_per_node=3)
    assert task_argv(app) == expected


def test_the_launcher_is_in_the_job_script(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mpirun").write_text('#!/bin/sh\necho "mpirun $*"\n')
    (bin_dir / "mpirun").chmod(0o755)
    app = Application(["echo", "x"], launcher="mpirun", tasks_per_node=2,
                      environment={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert (run_script(tmp_path, app) / "stdout").read_text() == "mpirun -n 2 echo x\n"


def test_a_condition_the_scheduler_cannot_wait_for_is_refused(tmp_path):
    class AnyOnly(Tiny):
        after_conditions = frozenset({"any"})

    with lrms.LRMS("ao", ["x86_64"], 1, 1, "1GiB", "1h", backend=AnyOnly,
                   spool=str(tmp_path / "spool")) as res:
        res.check_request(Application(["true"], after=[Dependency("a", "any", "7")]))
        with pytest.raises(LimitExceeded, match="cannot honour after=a:ok of job 'true': tiny "
                                                "cannot wait for a job to end ok"):
            res.check_request(Application(["true"], after=[Dependency("a", "ok", "7")]))


def test_fields_the_caller_handles_are_not_refused(tmp_path):
    app = Application(["true"], hold=True, after=["20261206-aaaa"])
    with local(tmp_path) as res:
        res.check_request(app, handled=("after", "hold"))
        with pytest.raises(LimitExceeded, match="cannot honour hold=true"):
            res.check_request(app, handled=("after",))
