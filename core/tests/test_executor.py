"""lrms.Executor on the built-in local resource (the real shellcmd backend, real Python jobs).

Every call is a real job: the caller pickles it, shellcmd runs the runner script under
a real interpreter, and the future resolves from the fetched result file.
"""

from __future__ import annotations

import glob
import os
import platform
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import cloudpickle
import pytest

import lrms
from lrms.executor import Executor, JobDied, PythonMismatch, RemoteTraceback, result

DEADLINE = 60.0
# The jobs cannot import this test module: send its functions by value (as a user would).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Boom(Exception):
    """Raised inside a job; must come back as itself."""


def square(x: int) -> int:
    return x * x


@pytest.fixture
def executor(tmp_path):
    with Executor(store=tmp_path / "jobs.db") as ex:
        yield ex


def stored(tmp_path) -> list[lrms.Job]:
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        return store.jobs()


def test_submit_map_and_chunks_return_values_in_order(executor):
    factor = 3
    assert executor.submit(lambda a, *, b: (a + b) * factor, 1, b=2).result(DEADLINE) == 9
    assert list(executor.map(square, range(6), timeout=DEADLINE)) == [0, 1, 4, 9, 16, 25]
    assert list(executor.map(pow, [2, 3, 4], [3, 2, 1], chunksize=2)) == [8, 9, 4]


def test_the_job_runs_under_this_python_in_its_own_sandbox(executor, tmp_path):
    future = executor.submit(lambda: (sys.executable, os.getcwd(), os.environ["LRMS_JOB_ID"]))
    python, cwd, jobid = future.result(DEADLINE)
    assert python == sys.executable and jobid == future.jobid
    job = stored(tmp_path)[0]
    assert cwd == job.sandbox and job.state == lrms.State.TERMINATED
    assert os.path.exists(os.path.join(job.output_dir, "lrms-result"))


def test_an_exception_comes_back_as_itself_with_the_remote_traceback(executor):
    def fails(n):
        raise Boom(f"bad {n}")

    future = executor.submit(fails, 7)
    with pytest.raises(Boom, match="bad 7") as raised:
        future.result(DEADLINE)
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "in fails" in str(raised.value.__cause__)
    with pytest.raises(KeyError):
        executor.submit(dict().__getitem__, "missing").result(DEADLINE)


def test_unpicklable_function_or_argument_is_refused_before_anything_is_added(executor, tmp_path):
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"cannot send the function .*<lambda>.* pickled"):
        executor.submit(lambda: lock.locked())
    with pytest.raises(TypeError, match="cannot send argument 2 of square"):
        executor.submit(square, 1, lock)
    with pytest.raises(TypeError, match="keyword argument 'x' of square"):
        executor.submit(square, x=lock)
    with pytest.raises(TypeError, match="argument 1 of square"):
        executor.map(square, [1, lock])
    assert stored(tmp_path) == []


def test_a_value_that_cannot_be_sent_back_is_named(executor):
    with pytest.raises(TypeError, match=r"return value cannot be sent back: .*lock"):
        executor.submit(threading.Lock).result(DEADLINE)


def test_a_module_missing_on_the_resource_is_named(executor, tmp_path, monkeypatch):
    package = tmp_path / "only_here"
    package.mkdir()
    (package / "helpers_only_here.py").write_text("def triple(x):\n    return 3 * x\n")
    monkeypatch.syspath_prepend(str(package))
    from helpers_only_here import triple  # type: ignore[import-not-found]

    with pytest.raises(ModuleNotFoundError,
                       match="module 'helpers_only_here' is missing on resource localhost") as e:
        executor.submit(triple, 2).result(DEADLINE)
    assert e.value.name == "helpers_only_here"


def other_python() -> str:
    """A real interpreter of another minor version than this one."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidates = sorted(glob.glob(os.path.expanduser("~root/.pyenv/versions/3.*/bin/python3")))
    candidates += sorted(glob.glob("/usr/bin/python3.*") + glob.glob("/usr/local/bin/python3.*"))
    for path in candidates:
        if os.access(path, os.X_OK) and not path.endswith("-config"):
            version = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:2], "
                                      "sep='.')"], capture_output=True, text=True, check=False)
            if version.returncode == 0 and version.stdout.strip() not in ("", mine) and \
                    version.stdout.startswith("3."):
                return path
    pytest.fail(f"this test needs a Python 3 other than {mine} installed (looked in pyenv, "
                "/usr/bin, /usr/local/bin)")


def test_another_python_version_on_the_resource_is_named(tmp_path):
    python = other_python()
    theirs = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with Executor(store=tmp_path / "jobs.db", python=python) as ex, \
            pytest.raises(PythonMismatch) as raised:
        ex.submit(square, 2).result(DEADLINE)
    message = str(raised.value)
    assert f"pickled by Python {platform.python_version()}" in message
    assert f"Python {theirs}, {python}" in message


def test_a_job_that_died_without_a_result_says_how_and_shows_its_stderr(executor):
    def dies():
        sys.stderr.write("about to vanish\n")
        sys.stderr.flush()
        os._exit(3)

    with pytest.raises(JobDied, match=r"ended \(exited, return code 3\) without a result"
                                      r"(.|\n)*stderr ends with:\nabout to vanish"):
        executor.submit(dies).result(DEADLINE)


def running(tmp_path, jobid: str) -> None:
    deadline = time.monotonic() + DEADLINE
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        while store.get(jobid).state != lrms.State.RUNNING:
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.05)


def test_cancelling_a_future_cancels_its_job(executor, tmp_path):
    future = executor.submit(time.sleep, 300)
    running(tmp_path, future.jobid)
    assert future.cancel()
    with pytest.raises(CancelledError):
        future.result()
    deadline = time.monotonic() + DEADLINE
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        while store.get(future.jobid).state != lrms.State.TERMINATED:
            assert time.monotonic() < deadline, "the job was not cancelled"
            time.sleep(0.05)
        assert store.get(future.jobid).termination_reason == lrms.TerminationReason.CANCELLED


def test_shutdown_can_cancel_pending_calls(tmp_path):
    ex = Executor(store=tmp_path / "jobs.db")
    futures = [ex.submit(time.sleep, 300) for _ in range(2)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(future.cancelled() for future in futures)
    with pytest.raises(RuntimeError, match="shut down"):
        ex.submit(square, 1)


def test_options_give_requests_to_the_jobs(executor):
    wide = executor.options(cores=2, walltime="10min", environment={"MY_FLAG": "on"})
    got = wide.submit(lambda: (os.environ["LRMS_CORES"], os.environ["MY_FLAG"]))
    assert got.result(DEADLINE) == ("2", "on")
    assert executor.submit(lambda: os.environ["LRMS_CORES"]).result(DEADLINE) == "1"
    with pytest.raises(lrms.LimitExceeded, match="no configured resource can run this job"):
        executor.options(cores=10_000)
    with pytest.raises(TypeError, match="unknown executor request 'colours'"):
        executor.options(colours=3)
    with pytest.raises(TypeError, match="workdir cannot be requested"):
        executor.options(workdir="/tmp")
    wide.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        wide.submit(square, 1)
    assert executor.submit(square, 4).result(DEADLINE) == 16  # the parent goes on


def test_a_call_outlives_its_process_and_is_reattached_by_job_id(tmp_path):
    store = tmp_path / "jobs.db"
    script = textwrap.dedent(f"""
        import time
        from lrms.executor import Executor
        ex = Executor(store={str(store)!r})
        print(ex.submit(lambda: time.sleep(1) or "still here").jobid, flush=True)
        ex.shutdown(wait=False)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=DEADLINE, env=os.environ.copy())
    jobid = done.stdout.strip()
    assert result(jobid, store=store, timeout=DEADLINE) == "still here"
    with Executor(store=store) as ex:
        assert ex.attach(jobid[-8:]).result(DEADLINE) == "still here"
        with pytest.raises(lrms.UnknownJob):
            ex.attach("no-such-job")


def test_attach_refuses_a_job_that_is_not_a_call(tmp_path):
    with lrms.Engine(store=tmp_path / "jobs.db") as engine:
        [job] = engine.add(lrms.Application(["true"]))
    with Executor(store=tmp_path / "jobs.db") as ex, \
            pytest.raises(ValueError, match="is not an executor call"):
        ex.attach(job.jobid)


def test_the_call_file_is_all_that_is_sent(executor, tmp_path):
    executor.submit(square, 3).result(DEADLINE)
    job = stored(tmp_path)[0]
    assert sorted(job.app.inputs.values()) == ["lrms-call", "lrms_runner.py"]
    assert job.tag == "executor" and job.app.jobname == "square"
    assert Path(job.output_dir, "stdout").exists()


def test_after_shutdown_without_waiting_pending_calls_still_resolve(tmp_path):
    ex = Executor(store=tmp_path / "jobs.db")
    futures = [ex.submit(square, i) for i in range(3)]
    ex.shutdown(wait=False)
    assert [future.result(DEADLINE) for future in futures] == [0, 1, 4]


def test_the_guide_s_first_example_runs_as_pasted(tmp_path):
    """docs/executor.md's opening example, as a script in a fresh directory (own store,
    the built-in local resource; the agent off as in every test)."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "executor.md").read_text()
    example = guide.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(example)
    env = {k: v for k, v in os.environ.items() if k not in ("LRMS_CONFIG",)}
    env.update(LRMS_STORE=str(tmp_path / "jobs.db"), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert 0 < float(first) < 10  # a sum of 10 random numbers in [0, 1)
    values = second.strip("[]").split(", ")
    assert len(values) == 5 and all(0 < float(v) < 1000 for v in values)
