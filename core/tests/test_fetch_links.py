"""Fetching outputs never follows a symbolic link out of the sandbox (real shellcmd jobs).

A job can link an output to any path on its resource; such an output is refused
with a warning naming it.  Links that stay inside the sandbox are followed (the
file's content is copied; a directory is walked once, so a link loop ends).
"""

from __future__ import annotations

import logging
import time

import pytest

import lrms
from lrms import Application, Job, State

# result.txt and d/etc, d/via lead out; d/inside.txt, d/loop and d/sub/up stay inside
SCRIPT = """
ln -s /etc/passwd result.txt
mkdir -p d/sub
echo in > d/ok.txt
ln -s ok.txt d/inside.txt
ln -s /etc d/etc
ln -s ../result.txt d/via
ln -s . d/loop
ln -s .. d/sub/up
ln -s nowhere d/broken
ln -s twin d/ring
ln -s ring d/twin
mkfifo d/pipe
"""


@pytest.fixture
def res(tmp_path):
    resource = lrms.LRMS("t", ["x86_64"], 2, 2, "1GiB", "1h", backend="shellcmd",
                         spool=str(tmp_path / "spool"))
    try:
        yield resource
    finally:
        resource.close()


def run(resource, argv, outputs):
    app = Application(argv, outputs=outputs)
    job = resource.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    deadline = time.monotonic() + 20
    while resource.update_job_state(job) != State.TERMINATED:
        assert time.monotonic() < deadline, f"{job} did not terminate"
        time.sleep(0.01)
    return job


def test_links_out_of_the_sandbox_are_refused_inside_ones_followed(res, tmp_path, caplog):
    job = run(res, ["sh", "-c", SCRIPT], ["result.txt", "d"])
    down = tmp_path / "down"
    down.mkdir()
    with caplog.at_level(logging.WARNING, logger="lrms.sandbox"):
        written = res.get_results(job, down)
    assert sorted(written) == [str(down / "d" / "inside.txt"), str(down / "d" / "ok.txt")]
    copied = sorted(str(path.relative_to(down)) for path in down.rglob("*") if path.is_file())
    assert copied == ["d/inside.txt", "d/ok.txt"]
    assert not (down / "d" / "inside.txt").is_symlink()
    assert (down / "d" / "inside.txt").read_text() == "in\n"
    messages = "\n".join(caplog.messages)
    for name, target in (("result.txt", "/etc/passwd"), ("d/etc", "/etc"),
                         ("d/via", "/etc/passwd")):
        assert (f"output {name} in sandbox {job.sandbox} is a symbolic link to {target}, "
                "outside the sandbox; refused") in messages
    for name in ('d/loop', 'd/sub/up'):
        assert (f"output {name} in sandbox {job.sandbox} is a symbolic link to a folder above "
                "it or already fetched; skipped") in messages
    for name in ("d/broken", "d/ring", "d/twin"):
        assert f"output {name} in sandbox {job.sandbox} is a broken symbolic link" in messages
    assert f"output d/pipe in sandbox {job.sandbox} is not a regular file" in messages


def test_run_refuses_an_output_linked_out_of_the_sandbox(cli, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="lrms.sandbox"):
        done = cli("run", "--output", "result.txt", "--", "sh", "-c",
                   "ln -s /etc/passwd result.txt; echo done")
    assert (done.code, done.out) == (0, "done\n")
    [warning] = set(caplog.messages)
    assert warning.startswith("output result.txt in sandbox ")
    assert warning.endswith(" is a symbolic link to /etc/passwd, outside the sandbox; refused")
    assert not (tmp_path / "result.txt").exists()
