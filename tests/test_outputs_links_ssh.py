"""Fetching over SSH never follows a symbolic link out of the sandbox.

The shellcmd backend on the test sshd (user ``lrmstest``): the job links
outputs to files outside its sandbox; those are refused with a warning naming
them, links that stay inside are followed, a link loop ends.
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest

import lrms
from lrms import Application, Job, State

pytestmark = pytest.mark.ssh

SCRIPT = """
echo mine > own.txt
ln -s /etc/passwd result.txt
ln -s own.txt alias.txt
mkdir d
echo in > d/ok.txt
ln -s /etc d/etc
ln -s ../result.txt d/via
ln -s .. d/up
"""


@pytest.fixture
def remote(sshd, ssh_auth):
    res = lrms.LRMS("remote", ["x86_64"], 2, 2, "1GiB", "1h", ssh_auth, backend="shellcmd",
                    transport="ssh", frontend=sshd.host, port=sshd.port,
                    spool=f"~/lrms-test/{uuid.uuid4().hex[:8]}")
    yield res
    try:
        res.transport.remove(res.backend.spool, recursive=True)
    finally:
        res.close()


def test_links_out_of_a_remote_sandbox_are_refused(remote, tmp_path, caplog):
    app = Application(["sh", "-c", SCRIPT], outputs=["result.txt", "alias.txt", "d"])
    job = remote.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    deadline = time.monotonic() + 30
    while remote.update_job_state(job) != State.TERMINATED:
        assert time.monotonic() < deadline, f"{job} did not terminate"
        time.sleep(0.1)
    down = tmp_path / "down"
    down.mkdir()
    with caplog.at_level(logging.WARNING, logger="lrms.sandbox"):
        written = remote.get_results(job, down)
    assert sorted(written) == [str(down / "alias.txt"), str(down / "d" / "ok.txt")]
    assert (down / "alias.txt").read_text() == "mine\n"
    assert sorted(str(p.relative_to(down)) for p in down.rglob("*") if p.is_file()) == [
        "alias.txt", "d/ok.txt"]
    messages = "\n".join(caplog.messages)
    for name, target in (("result.txt", "/etc/passwd"), ("d/etc", "/etc"),
                         ("d/via", "/etc/passwd")):
        assert (f"output {name} in sandbox {job.sandbox} is a symbolic link to {target}, "
                "outside the sandbox; refused") in messages
    for name in ('d/up',):
        assert (f"output {name} in sandbox {job.sandbox} is a symbolic link to a folder above "
                "it or already fetched; skipped") in messages
