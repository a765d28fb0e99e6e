"""Each distribution installs alone: the core, plus one plugin, in a clean virtual environment.

Wheels are built from the working tree with ``pip wheel`` (no dependencies),
then installed into a fresh venv together with the core's own dependencies
from the package index; nothing else of the repository is on the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    sources = [ROOT / "core", *(ROOT / "plugins" / name for name in PLUGINS)]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    *map(str, sources)], check=True, timeout=600)
    return out


def make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def wheel_of(wheels: Path, dist: str) -> str:
    name = dist.replace("-", "_")
    found = [w for w in wheels.iterdir() if w.name.startswith(f"{name}-")]
    assert len(found) == 1, f"expected one wheel for {dist}, found {found}"
    return str(found[0])


def test_core_alone_says_no_backend_is_installed(wheels, tmp_path):
    bindir = make_venv(tmp_path / "venv")
    subprocess.run([bindir / "pip", "install", "-q", wheel_of(wheels, "lrms")], check=True,
                   timeout=600)
    out = subprocess.run([bindir / "lrms", "backends"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert "No backend is installed" in out and "pip install lrms-shellcmd" in out
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("LRMS_CONFIG", None)
    done = subprocess.run([bindir / "lrms", "run", "--", "true"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "no backend named 'shellcmd' is installed" in done.stderr
    assert "pip install lrms-shellcmd" in done.stderr


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_installs_with_only_the_core(wheels, tmp_path, plugin):
    bindir = make_venv(tmp_path / "venv")
    subprocess.run([bindir / "pip", "install", "-q", wheel_of(wheels, "lrms"),
                    wheel_of(wheels, plugin)], check=True, timeout=600)
    backends = subprocess.run([bindir / "lrms", "backends"], capture_output=True, text=True,
                              check=True, timeout=60).stdout.splitlines()
    assert len(backends) == 1 and plugin in backends[0]
    module = plugin.replace("-", "_")
    code = (f"import {module}, importlib.resources as r; "
            f"assert r.files({module!r}).joinpath('py.typed').is_file()")
    subprocess.run([bindir / "python", "-c", code], check=True, timeout=60)


def test_shellcmd_wheel_runs_a_job(wheels, tmp_path):
    bindir = make_venv(tmp_path / "venv")
    subprocess.run([bindir / "pip", "install", "-q", wheel_of(wheels, "lrms"),
                    wheel_of(wheels, "lrms-shellcmd")], check=True, timeout=600)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("LRMS_CONFIG", None)
    done = subprocess.run([bindir / "lrms", "run", "--", "echo", "$(id)", "; rm -rf ~"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "$(id) ; rm -rf ~\n"
