"""Shared fixtures of the core tests.

Every test runs with ``HOME``, ``XDG_CONFIG_HOME`` and ``XDG_DATA_HOME`` in its
own temporary directory and ``LRMS_CONFIG``/``LRMS_STORE`` unset, so nothing
reads or writes the real ``~/.config/lrms``, ``~/.local/share/lrms`` or ``~/.lrms``.
"""

from __future__ import annotations

import pytest

import lrms


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
