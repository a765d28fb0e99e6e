"""Listing and loading backends by name, through real entry points.

Broken backends are installed as a fake distribution (a ``*.dist-info``
folder with METADATA and entry_points.txt, plus the modules it points to) in a
temporary directory, and exercised in a subprocess whose ``PYTHONPATH`` holds
that directory, so this test process never sees them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

import lrms

DIST = "lrms-broken-test"

ENTRY_POINTS = {
    "importerror": "lrms_broken_importerror:Backend",
    "noattr": "lrms_broken_ok:NoSuchClass",
    "nohooks": "lrms_broken_ok:MissingHooks",
    "badsig": "lrms_broken_ok:BadSignature",
    "misspelt": "lrms_broken_ok:Misspelt",
    "api2": "lrms_broken_ok:Api2",
    "noquery": "lrms_broken_ok:NoQuery",
    "fine": "lrms_broken_ok:Complete",
}

BROKEN_MODULE = """\
import lrms_no_such_dependency_xyz  # the cause the error must show

class Backend:
    pass
"""

OK_MODULE = '''\
"""Backends that import fine; all but Complete break the contract in one way."""
import lrms
import lrms.batch


class Complete(lrms.SandboxBackend):
    """Implements every operation (the sandbox ones come from SandboxBackend)."""

    @lrms.hookimpl
    def submit_job(self, app, job):
        job.native_id = "1"
        return job

    @lrms.hookimpl
    def update_job_states(self, jobs):
        return [lrms.State.TERMINATED for _ in jobs]

    @lrms.hookimpl
    def cancel_job(self, job):
        return True

    @lrms.hookimpl
    def get_resource_status(self):
        return lrms.ResourceStatus(1, 1, 0, 0, 0)


class MissingHooks(lrms.SandboxBackend):
    @lrms.hookimpl
    def submit_job(self, app, job):
        return job

    @lrms.hookimpl
    def update_job_states(self, jobs):
        return []


class BadSignature(Complete):
    @lrms.hookimpl
    def submit_job(self, app, job, bogus):
        return job


class Misspelt(Complete):
    @lrms.hookimpl
    def submitt_job(self, app, job):
        return job


class Api2(Complete):
    lrms_api = "2"


class NoQuery(lrms.batch.BatchBackend):
    """A batch backend that forgot two of its template's required methods."""

    def submit_command(self, app, job, sandbox, script):
        return lrms.batch.Submission(["true"])

    def parse_job_id(self, result):
        return "1"

    @lrms.hookimpl
    def get_resource_status(self):
        return lrms.ResourceStatus(1, 1, 0, 0, 0)
'''

# Runs in the subprocess: tries every broken backend through a config (next
# to a good shellcmd resource) and directly, and prints the outcomes as JSON.
PROBE = '''\
import json, sys, time
import lrms

spool, names = sys.argv[1], sys.argv[2:]
LIMITS = """
    max_cores: 1
    max_cores_per_job: 1
    max_memory_per_core: 1GiB
    max_walltime: 1h
    architecture: [x86_64]
"""
CONFIG = ("resources:\\n  good:\\n    backend: shellcmd\\n    spool: " + spool + "/good"
          + LIMITS + "  broken:\\n    backend: {name}" + LIMITS)


def describe(exc):
    return {"type": type(exc).__name__, "message": str(exc),
            "lrms_error": isinstance(exc, lrms.LRMSError)}


def error(call):
    try:
        call()
    except Exception as exc:
        return describe(exc)
    return None


def run_good(config):
    res = config.resource("good")
    app = lrms.Application(["sh", "-c", "exit 7"])
    job = res.submit_job(app, lrms.Job(app))
    job.state = lrms.State.SUBMITTED
    deadline = time.time() + 20
    while res.update_job_state(job) != lrms.State.TERMINATED and time.time() < deadline:
        time.sleep(0.01)
    return job.returncode


results = {}
for name in names:
    path = spool + "/" + name + ".yaml"
    with open(path, "w") as handle:
        handle.write(CONFIG.format(name=name))
    outcome = {"load": None}
    try:
        config = lrms.load_config(path)
    except Exception as exc:
        outcome["load"] = describe(exc)
    else:
        outcome["config"] = error(lambda: config.resource("broken"))
        outcome["good"] = run_good(config)
        config.close()
    outcome["direct"] = error(lambda: lrms.LRMS(
        "direct", ["x86_64"], 1, 1, "1GiB", "1h", backend=name, spool=spool + "/direct"))
    results[name] = outcome
results["list"] = [info.__dict__ for info in lrms.list_backends()]
print(json.dumps(results))
'''


def fake_distribution(root, name, version, groups, modules):
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        lines.extend(f"{entry} = {target}" for entry, target in entries.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, code in modules.items():
        (root / f"{module}.py").write_text(code)


def subprocess_env(pythonpath, home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRMS_")}
    env["PYTHONPATH"] = str(pythonpath)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return env


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    fake_distribution(root, DIST, "1.0", {"lrms.backends": ENTRY_POINTS},
                      {"lrms_broken_importerror": BROKEN_MODULE, "lrms_broken_ok": OK_MODULE})
    home = tmp_path_factory.mktemp("subhome")
    return root, subprocess_env(root, home)


@pytest.fixture(scope="module")
def outcomes(broken_site, tmp_path_factory):
    root, env = broken_site
    spool = tmp_path_factory.mktemp("spool")
    (root / "probe.py").write_text(PROBE)
    names = [*ENTRY_POINTS, "nosuch"]
    done = subprocess.run([sys.executable, str(root / "probe.py"), str(spool), *names],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- listing ----------------------------------------------------------------------


def test_list_backends_includes_shellcmd():
    infos = {info.name: info for info in lrms.list_backends()}
    shellcmd = infos["shellcmd"]
    assert shellcmd.distribution == "lrms-shellcmd"
    assert shellcmd.version == metadata.version("lrms-shellcmd")
    assert shellcmd.target == "lrms_shellcmd:ShellcmdBackend"
    names = [info.name for info in lrms.list_backends()]
    assert names == sorted(names)


def test_list_backends_imports_no_backend():
    code = "import lrms, sys; lrms.list_backends(); print('lrms_shellcmd' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_importing_lrms_imports_no_backend():
    code = "import lrms, sys; print(sorted(m for m in sys.modules if m.startswith('lrms_')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_list_backends_reads_metadata_of_every_entry(broken_site):
    _, env = broken_site
    code = ("import json, lrms, sys; infos = lrms.list_backends(); "
            "print(json.dumps([[i.__dict__ for i in infos], "
            "sorted(m for m in sys.modules if m.startswith('lrms_'))]))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    infos, imported = json.loads(done.stdout)
    by_name = {info["name"]: info for info in infos}
    for name, target in ENTRY_POINTS.items():
        assert by_name[name] == {"name": name, "target": target, "distribution": DIST,
                                 "version": "1.0"}
    assert by_name["shellcmd"]["distribution"] == "lrms-shellcmd"
    assert imported == []  # listing imported none of them, broken or not


def test_cli_backends_lists_every_entry(broken_site):
    _, env = broken_site
    done = subprocess.run([sys.executable, "-m", "lrms.cli", "backends"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    for name, target in ENTRY_POINTS.items():
        assert DIST in lines[name]
        assert "1.0" in lines[name]
        assert target in lines[name]
    assert "lrms-shellcmd" in lines["shellcmd"]
    assert "Traceback" not in done.stderr

    done = subprocess.run([sys.executable, "-m", "lrms.cli", "backends", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = {info["name"]: info for info in json.loads(done.stdout)}
    assert set(ENTRY_POINTS) | {"shellcmd"} <= set(listed)
    assert listed["nohooks"]["distribution"] == DIST


# -- loading broken backends --------------------------------------------------------------


def test_fake_distribution_works(outcomes):
    # The control case: a correct backend from the same fake distribution loads.
    assert outcomes["fine"] == {"load": None, "config": None, "good": 7, "direct": None}


def check_broken(outcome, name, *needles):
    assert outcome["load"] is None  # the file itself is fine
    assert outcome["good"] == 7  # the other resource still runs jobs
    for how in ("config", "direct"):
        error = outcome[how]
        assert error is not None, f"{name} loaded through {how}"
        assert error["type"] == "BackendError", error
        assert error["lrms_error"]
        assert f"'{name}'" in error["message"], (how, error["message"])
        for needle in needles:
            assert needle in error["message"], (how, needle, error["message"])


def test_import_error(outcomes):
    check_broken(outcomes["importerror"], "importerror",
                 DIST, "importerror = lrms_broken_importerror:Backend",
                 "ModuleNotFoundError", "lrms_no_such_dependency_xyz")


def test_missing_attribute(outcomes):
    check_broken(outcomes["noattr"], "noattr",
                 DIST, "noattr = lrms_broken_ok:NoSuchClass", "AttributeError", "NoSuchClass")


def test_missing_hooks_are_named(outcomes):
    check_broken(outcomes["nohooks"], "nohooks", "cancel_job", "get_resource_status")
    for how in ("config", "direct"):
        message = outcomes["nohooks"][how]["message"]
        assert "submit_job" not in message  # only the missing ones
        assert "update_job_states" not in message


def test_hook_with_wrong_signature(outcomes):
    check_broken(outcomes["badsig"], "badsig", "submit_job", "bogus")


def test_misspelt_hook(outcomes):
    check_broken(outcomes["misspelt"], "misspelt", "submitt_job")


def test_missing_required_methods_of_the_base_class_are_named(outcomes):
    check_broken(outcomes["noquery"], "noquery", "lrms_broken_ok.NoQuery",
                 "required method(s) cancel_command, query")


def test_cli_backends_and_the_conformance_suite_name_missing_methods(broken_site, tmp_path):
    _, env = broken_site
    done = subprocess.run([sys.executable, "-m", "lrms.cli", "backends"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "lrms_broken_ok.NoQuery) does not implement the required method(s) " \
        "cancel_command, query" in done.stdout + done.stderr
    config = tmp_path / "site.yaml"
    config.write_text("resources:\n  broken:\n    backend: noquery\n    max_cores: 1\n"
                      "    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
                      "    max_walltime: 1h\n    architecture: [x86_64]\n")
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "lrms.testing", "--pyargs",
         "lrms.testing.conformance", "--lrms-config", str(config), "--lrms-resource", "broken",
         "-k", "registers_valid_hooks", "-p", "no:cacheprovider"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert suite.returncode == 1, suite.stdout + suite.stderr
    assert "backend 'noquery' (lrms_broken_ok.NoQuery) does not implement the required " \
        "method(s) cancel_command, query" in suite.stdout


def test_unsupported_api_version(outcomes):
    check_broken(outcomes["api2"], "api2", "API 2", f"API {lrms.API_VERSION}")


def test_unknown_backend(outcomes):
    outcome = outcomes["nosuch"]
    direct = outcome["direct"]
    assert direct["type"] == "BackendNotFound"
    assert direct["lrms_error"]
    assert "'nosuch'" in direct["message"]
    assert "pip install lrms-nosuch" in direct["message"]
    for name in [*ENTRY_POINTS, "shellcmd"]:
        assert name in direct["message"]
    # In a config file an unknown backend is an error of the file (name, line, key).
    load = outcome["load"]
    assert load["type"] == "ConfigError"
    assert "nosuch.yaml:" in load["message"]
    assert "resources.broken.backend" in load["message"]
    assert "pip install lrms-nosuch" in load["message"]


def test_unknown_backend_in_this_process():
    with pytest.raises(lrms.BackendNotFound) as info:
        lrms.LRMS("x", ["x86_64"], 1, 1, "1GiB", "1h", backend="nosuch")
    assert "pip install lrms-nosuch" in str(info.value)
    assert "shellcmd" in str(info.value)


# -- extension plugins from entry points ---------------------------------------------------

PLUGIN_MODULE = '''\
import lrms


class Good:
    @lrms.hookimpl
    def job_script_lines(self, app, job):
        return ["export FROM_ENTRY_POINT=yes"]


class Operation:
    @lrms.hookimpl
    def submit_job(self, app, job):
        raise AssertionError("an extension must never implement an operation")


good = Good()
operation = Operation()
'''

PLUGIN_PROBE = '''\
import io, sys, time
import lrms

res = lrms.LRMS("p", ["x86_64"], 1, 1, "1GiB", "1h", backend="shellcmd", spool=sys.argv[1])
app = lrms.Application(["sh", "-c", 'echo "[$FROM_ENTRY_POINT]"'])
job = res.submit_job(app, lrms.Job(app))
job.state = lrms.State.SUBMITTED
deadline = time.time() + 20
while res.update_job_state(job) != lrms.State.TERMINATED and time.time() < deadline:
    time.sleep(0.01)
out = io.BytesIO()
res.peek(job, "stdout", out)
print(out.getvalue().decode().strip())
res.close()
'''


def test_extension_plugins_from_entry_points(tmp_path):
    site = tmp_path / "site"
    fake_distribution(
        site, "lrms-ext-test", "0.3",
        {"lrms.plugins": {"good": "lrms_ext_ok:good", "operation": "lrms_ext_ok:operation",
                          "importfail": "lrms_ext_missing_xyz:plugin"}},
        {"lrms_ext_ok": PLUGIN_MODULE})
    (tmp_path / "home").mkdir()
    probe = tmp_path / "probe.py"
    probe.write_text(PLUGIN_PROBE)
    done = subprocess.run(
        [sys.executable, str(probe), str(tmp_path / "spool")],
        env=subprocess_env(site, tmp_path / "home"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[yes]"  # the good plugin's line ran before the job
    assert "importfail" in done.stderr  # the broken ones are reported and left out
    assert "operation" in done.stderr
    assert "submit_job" in done.stderr

