"""``lrms resources`` says, once per resource and request, what a resource cannot enforce.

Against real shellcmd resources: this machine (the tests run as root, so a cgroup
with the memory controller is writable and nothing needs saying) and the test
sshd's unprivileged ``lrmstest`` user, for whom no cgroup is writable.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

import lrms


@pytest.mark.ssh
def test_resources_notes_each_request_a_resource_cannot_enforce(cli, tmp_path, sshd):
    assert os.geteuid() == 0, "the local resource needs a writable memory cgroup (root)"
    limits = ("    max_cores: 2\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
              "    max_walltime: 1h\n    architecture: [x86_64]\n")
    config = tmp_path / "site.yaml"
    config.write_text(
        "resources:\n"
        f"  here:\n    backend: shellcmd\n    spool: {tmp_path}/here\n{limits}"
        f"  far:\n    backend: shellcmd\n    transport: ssh\n    frontend: {sshd.host}\n"
        f"    port: {sshd.port}\n    auth: k\n    spool: ~/lrms-test/{uuid.uuid4().hex[:8]}\n"
        f"{limits}"
        f"auths:\n  k: {{type: ssh, username: {sshd.user}, keyfile: {sshd.key}, "
        f"known_hosts: {sshd.known_hosts}}}\n")
    try:
        done = cli("--config", str(config), "resources")
        data = {entry["name"]: entry for entry in json.loads(
            cli("--config", str(config), "resources", "--json").out)}
    finally:
        with lrms.load_config(str(config)).resource("far") as far:
            far.transport.remove(far.backend.spool, recursive=True)
    assert done.code == 0, done.err
    notes = [line for line in done.out.splitlines() if ": note: " in line]
    assert notes == [f"far: note: requested_memory is not enforced on {sshd.host}: no cgroup "
                     "with the memory controller is writable for this user there"]
    assert data["here"]["status"]["notes"] == []
    assert data["far"]["status"]["notes"] == [notes[0].split(": note: ", 1)[1]]
