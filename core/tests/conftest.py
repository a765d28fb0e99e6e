"""Shared fixtures of the core tests.

Every test runs with ``HOME``, ``XDG_CONFIG_HOME`` and ``XDG_DATA_HOME`` in its
own temporary directory and ``LRMS_CONFIG``/``LRMS_STORE`` unset, so nothing
reads or writes the real ``~/.config/lrms``, ``~/.local/share/lrms`` or ``~/.lrms``.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

import lrms
from lrms.cli import main


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv("LRMS_STORE", raising=False)
    monkeypatch.delenv("LRMS_CONFIG", raising=False)
    monkeypatch.delenv("LRMS_RESOURCE", raising=False)
    return home


@pytest.fixture
def registered():
    """Register extension plugins for one test; they are unregistered afterwards."""
    plugins: list[object] = []

    def register(plugin: object) -> object:
        lrms.register(plugin)
        plugins.append(plugin)
        return plugin

    try:
        yield register
    finally:
        for plugin in plugins:
            lrms.unregister(plugin)


class Result(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``cli(*args)`` runs ``lrms args`` in this process, in ``tmp_path``, with its own store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LRMS_STORE", str(tmp_path / "jobs.db"))

    def call(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call
