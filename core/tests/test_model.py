"""The data model: Arch, State, Application and Job."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time

import pytest

from lrms import Application, Arch, Duration, Job, Memory, State, TerminationReason

# -- Arch ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "arch"),
    [
        ("x86_64", Arch.X86_64),
        ("amd64", Arch.X86_64),
        ("AMD64", Arch.X86_64),
        ("x86-64", Arch.X86_64),
        ("arm64", Arch.AARCH64),
        (" aarch64 ", Arch.AARCH64),
        ("i386", Arch.I686),
        ("ppc64el", Arch.PPC64LE),
    ],
)
def test_arch_aliases(text, arch):
    assert Arch(text) is arch


def test_arch_value_and_str():
    assert str(Arch.X86_64) == "x86_64"
    assert Arch.AARCH64.value == "aarch64"
    assert Arch.X86_64 == "x86_64"


def test_arch_unknown():
    with pytest.raises(ValueError, match="sparc"):
        Arch("sparc")


def test_arch_local_is_this_machine():
    assert Arch.local() is Arch(platform.machine())
    assert isinstance(Arch.local(), Arch)


# -- Application: argv ------------------------------------------------------------------


@pytest.mark.parametrize("argv", ["echo hi", b"echo hi", None, 5])
def test_argv_must_be_a_list(argv):
    with pytest.raises(TypeError, match="argv list"):
        Application(argv)


def test_argv_string_message_shows_the_string():
    with pytest.raises(TypeError) as info:
        Application("python3 analyse.py")
    assert "'python3 analyse.py'" in str(info.value)


@pytest.mark.parametrize("argv", [[], [""], ["echo", 3], ["echo", None]])
def test_argv_must_be_non_empty_strings(argv):
    with pytest.raises(ValueError):
        Application(argv)


def test_argv_kept_byte_for_byte():
    argv = ["echo", "$(id)", "; rm -rf ~", "a b", "", "'\"`"]
    app = Application(argv)
    assert list(app.arguments) == argv


def test_argv_accepts_tuple_and_pathlike(tmp_path):
    app = Application((tmp_path / "prog", "x"))
    assert app.arguments == (str(tmp_path / "prog"), "x")


# -- Application: sandbox names --------------------------------------------------------

ESCAPING = ["../x", "/etc/passwd", "a/../../b", ".", "~/x", "..", "a/.."]


@pytest.mark.parametrize("name", ESCAPING)
def test_output_escaping_sandbox_refused(name):
    with pytest.raises(ValueError) as info:
        Application(["true"], outputs=[name])
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", ESCAPING)
def test_input_name_escaping_sandbox_refused(name):
    with pytest.raises(ValueError) as info:
        Application(["true"], inputs={"data.csv": name})
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("field", ["stdout", "stderr", "stdin"])
@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "."])
def test_std_streams_escaping_sandbox_refused(field, name):
    with pytest.raises(ValueError) as info:
        Application(["true"], **{field: name})
    assert repr(name) in str(info.value)
    assert field in str(info.value)


def test_sandbox_names_are_normalised():
    app = Application(["true"], outputs=["a/./b", "c//d", "e/../f"], stdout="./out.txt")
    assert app.outputs == ("a/b", "c/d", "f")
    assert app.stdout == "out.txt"


def test_outputs_as_a_single_string_is_one_name():
    # A string is one file name, as it is for inputs; it must not be split
    # into its characters (which would fetch 'r', 'e', 's', ... or fail on '.').
    app = Application(["true"], outputs="result.json")
    assert app.outputs == ("result.json",)


# -- Application: inputs ----------------------------------------------------------------


def test_inputs_list_uses_basenames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = Application(["true"], inputs=["data/in.csv", str(tmp_path / "dir") + "/", "top.txt"])
    assert app.inputs == {
        str(tmp_path / "data" / "in.csv"): "in.csv",
        str(tmp_path / "dir"): "dir",
        str(tmp_path / "top.txt"): "top.txt",
    }


def test_inputs_single_string_is_one_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Application(["true"], inputs="in.csv").inputs == {str(tmp_path / "in.csv"): "in.csv"}


def test_inputs_dict_keeps_sandbox_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = Application(["true"], inputs={"data/in.csv": "sub/renamed.csv", tmp_path / "x": "x"})
    assert app.inputs == {
        str(tmp_path / "data" / "in.csv"): "sub/renamed.csv",
        str(tmp_path / "x"): "x",
    }


def test_inputs_urls_kept_as_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = Application(
        ["true"],
        inputs={"https://example.org/a.txt": "a.txt", "gsiftp://h/p/b": "b", "local.txt": "l"},
    )
    assert "https://example.org/a.txt" in app.inputs
    assert "gsiftp://h/p/b" in app.inputs
    assert app.input_urls() == ["https://example.org/a.txt", "gsiftp://h/p/b"]
    assert app.local_inputs() == {str(tmp_path / "local.txt"): "l"}
    listed = Application(["true"], inputs=["https://example.org/data/a.txt"])
    assert listed.inputs == {"https://example.org/data/a.txt": "a.txt"}


# -- Application: environment, join, defaults ------------------------------------------


@pytest.mark.parametrize(
    "environment",
    [{"A=B": "x"}, {"": "x"}, {"A": 1}, {"A": "a\0b"}, {"A\0": "x"}, {1: "x"}],
)
def test_environment_checked(environment):
    with pytest.raises(ValueError):
        Application(["true"], environment=environment)


def test_environment_kept():
    env = {"A": "1", "PATH_EXTRA": "/x:/y", "EMPTY": "", "SPACES": "a b $c"}
    assert Application(["true"], environment=env).environment == env


def test_join():
    joined = Application(["true"], stdout="log.txt", join=True)
    assert joined.join is True
    assert joined.stderr == "log.txt" == joined.stdout
    same = Application(["true"], stdout="log.txt", stderr="log.txt")
    assert same.join is True
    apart = Application(["true"], stdout="o", stderr="e")
    assert apart.join is False
    assert (apart.stdout, apart.stderr) == ("o", "e")


def test_defaults():
    app = Application(["/usr/bin/python3", "x.py"])
    assert app.arguments == ("/usr/bin/python3", "x.py")
    assert app.inputs == {}
    assert app.outputs == ()
    assert (app.stdout, app.stderr, app.join, app.stdin) == ("stdout", "stderr", False, None)
    assert app.environment == {}
    assert app.jobname == "python3"
    assert app.requested_cores == 1
    assert app.requested_memory is None
    assert app.requested_walltime is None
    assert app.requested_architecture is None
    assert app.extra == {}
    assert app.options_for("slurm") == {}


def test_requests_converted():
    app = Application(
        ["true"], requested_cores=4, requested_memory="8GiB", requested_walltime="2h",
        requested_architecture="amd64")
    assert app.requested_memory == Memory("8GiB")
    assert app.requested_walltime == Duration("2h")
    assert app.requested_architecture is Arch.X86_64


@pytest.mark.parametrize("cores", [0, -1, 1.5, True, "2"])
def test_requested_cores_checked(cores):
    with pytest.raises(ValueError, match="requested_cores"):
        Application(["true"], requested_cores=cores)


def test_bad_requests_name_the_text():
    with pytest.raises(ValueError, match="4 GBs"):
        Application(["true"], requested_memory="4 GBs")
    with pytest.raises(ValueError, match="2 dayz"):
        Application(["true"], requested_walltime="2 dayz")
    with pytest.raises(ValueError, match="sparc"):
        Application(["true"], requested_architecture="sparc")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("requested_walltime", "0s", "requested_walltime: invalid duration '0s': it must be more"),
    ("requested_walltime", 0, "requested_walltime: invalid duration 0: it must be more"),
    ("requested_walltime", "25:61:00", "requested_walltime: invalid duration '25:61:00'"),
    ("requested_memory", "0GiB", "requested_memory: invalid memory quantity '0GiB': it must"),
    ("requested_memory", Memory(0), "requested_memory: invalid memory quantity Memory('0B')"),
])
def test_zero_and_impossible_requests_are_refused(field, value, message):
    with pytest.raises(ValueError) as info:
        Application(["true"], **{field: value})
    assert str(info.value).startswith(message)


def test_extra_options_per_backend():
    app = Application(["true"], extra={"slurm": {"partition": "debug"}})
    options = app.options_for("slurm")
    assert options == {"partition": "debug"}
    options["partition"] = "changed"
    assert app.options_for("slurm") == {"partition": "debug"}
    assert app.options_for("pbs") == {}


def test_application_is_immutable():
    app = Application(["true"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.requested_cores = 3  # type: ignore[misc]


def _full_app(tmp_path) -> Application:
    return Application(
        ["python3", "analyse.py", "--n", "10"],
        inputs={str(tmp_path / "in.csv"): "in.csv", "https://example.org/x": "sub/x"},
        outputs=["result.json", "plots/"],
        stdout="out.txt",
        stderr="err.txt",
        stdin="in.csv",
        environment={"OMP_NUM_THREADS": "4"},
        jobname="analysis",
        requested_cores=4,
        requested_memory="1.5GiB",
        requested_walltime=90.5,
        requested_architecture="aarch64",
        extra={"slurm": {"partition": "debug", "qos": ["a", "b"]}},
    )


def test_application_dict_round_trip(tmp_path):
    app = _full_app(tmp_path)
    data = app.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON values only
    again = Application.from_dict(json.loads(json.dumps(data)))
    assert again == app
    assert again.to_dict() == data
    assert again.requested_walltime == Duration(90.5)
    assert again.requested_architecture is Arch.AARCH64


def test_application_dict_round_trip_joined():
    app = Application(["true"], stdout="log", join=True)
    again = Application.from_dict(app.to_dict())
    assert again == app
    assert again.join and again.stderr == "log"


# -- Job ---------------------------------------------------------------------------------


def test_job_defaults():
    app = Application(["true"])
    job = Job(app)
    assert job.app is app
    assert job.state is State.NEW
    assert job.jobid
    assert Job(app).jobid != job.jobid
    assert (job.resource, job.native_id, job.sandbox) == (None, None, None)
    assert (job.exitcode, job.signal, job.returncode) == (None, None, None)
    assert job.termination_reason is None
    assert job.backend_data == {}
    assert Job(app, jobid="mine").jobid == "mine"


def test_job_needs_an_application():
    with pytest.raises(TypeError, match="Application"):
        Job(["echo", "hi"])  # type: ignore[arg-type]


def test_job_state_history_has_timestamps():
    before = time.time()
    job = Job(Application(["true"]))
    job.state = State.SUBMITTED
    job.state = State.SUBMITTED  # no change, no new entry
    job.state = "RUNNING"  # type: ignore[assignment]
    job.state = State.TERMINATED
    after = time.time()
    assert [state for state, _ in job.history] == [
        State.NEW, State.SUBMITTED, State.RUNNING, State.TERMINATED]
    stamps = [stamp for _, stamp in job.history]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after
    assert job.state is State.TERMINATED


def test_job_state_refuses_unknown_state():
    job = Job(Application(["true"]))
    with pytest.raises(ValueError):
        job.state = "FINISHED"  # type: ignore[assignment]
    assert [state for state, _ in job.history] == [State.NEW]


def test_returncode():
    job = Job(Application(["true"]))
    job.record_outcome(exitcode=3, reason=TerminationReason.EXITED)
    assert (job.exitcode, job.signal, job.returncode) == (3, None, 3)
    job.record_outcome(signal=9, reason=TerminationReason.SIGNALLED)
    assert (job.exitcode, job.signal, job.returncode) == (None, 9, 137)
    assert job.termination_reason is TerminationReason.SIGNALLED
    job.record_outcome(exitcode=0)
    assert job.returncode == 0


def test_record_outcome_keeps_what_is_known():
    job = Job(Application(["true"]))
    job.record_outcome(exitcode=1, walltime=Duration(10), cputime=Duration(4),
                       max_memory=Memory("1MiB"), reason=TerminationReason.WALLTIME_EXCEEDED)
    job.record_outcome()
    assert job.returncode == 1
    assert job.used_walltime == Duration(10)
    assert job.used_cputime == Duration(4)
    assert job.max_used_memory == Memory("1MiB")
    assert job.termination_reason is TerminationReason.WALLTIME_EXCEEDED


def test_job_json_round_trip_preserves_every_field(tmp_path):
    job = Job(_full_app(tmp_path))
    job.resource = "cluster"
    job.native_id = "12345"
    job.sandbox = "/home/alice/.lrms/cluster/jobs/" + job.jobid
    job.state = State.SUBMITTED
    job.state = State.RUNNING
    job.state = State.TERMINATED
    job.record_outcome(
        signal=15, reason=TerminationReason.MEMORY_EXCEEDED, walltime=Duration(3725.25),
        cputime=Duration(7000.5), max_memory=Memory(123_456_789))
    job.status_message = "killed by the OOM killer"
    job.backend_data = {"host": "node01", "ids": [1, 2], "nested": {"a": None, "b": 1.5}}

    text = job.to_json()
    clone = Job.from_json(text)

    assert clone.to_json() == text
    assert clone.app == job.app
    mine, theirs = vars(job).copy(), vars(clone).copy()
    mine.pop("app")
    theirs.pop("app")
    assert theirs == mine  # every attribute, including any added later
    assert clone.state is State.TERMINATED
    assert clone.history == job.history
    assert isinstance(clone.used_walltime, Duration)
    assert clone.used_walltime == Duration(3725.25)
    assert clone.max_used_memory == Memory(123_456_789)
    assert clone.termination_reason is TerminationReason.MEMORY_EXCEEDED
    assert (clone.exitcode, clone.signal, clone.returncode) == (None, 15, 143)


def test_job_round_trip_of_new_job_keeps_its_creation_time():
    job = Job(Application(["true"]))
    clone = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert clone.history == job.history
    assert clone.jobid == job.jobid
    assert clone.used_walltime is None and clone.max_used_memory is None


def test_job_dict_is_plain_json():
    job = Job(Application(["true"], inputs={os.sep + "x": "x"}))
    data = job.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["history"][0][0] == "NEW"
