"""The docs' configuration reference is generated from the installed backends' options."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

import lrms
import lrms.backends
from lrms.config import AGENT_OPTIONS, CORE_OPTIONS, SSH_AUTH_OPTIONS

DOCS_EXT = Path(__file__).resolve().parents[1] / "docs" / "_ext"


@pytest.fixture(scope="module")
def lrms_docs() -> Iterator[ModuleType]:
    sys.path.insert(0, str(DOCS_EXT))
    try:
        yield importlib.import_module("lrms_docs")
    finally:
        sys.path.remove(str(DOCS_EXT))


def names(options: Any) -> list[str]:
    return [option.name for option in options]


def test_lists_every_option_of_every_installed_backend(lrms_docs: ModuleType) -> None:
    tables = {table.backend: table for table in lrms_docs.config_tables()}
    installed = [info.name for info in lrms.list_backends()]
    assert {"shellcmd", "slurm", "sge", "pbs"} <= set(installed)
    assert sorted(name for name in tables if name) == installed
    for name in installed:
        declared = lrms.backends.load_backend_class(name).options
        assert names(tables[name].options) == names(declared), name
        rows = [lrms_docs.option_row(option) for option in tables[name].options]
        assert [row[0] for row in rows] == [f"``{option.name}``" for option in declared]


class NewBackend(lrms.SandboxBackend):
    """A backend installed after the docs were written."""

    options: ClassVar[tuple[lrms.Option, ...]] = (
        *lrms.SandboxBackend.options,
        lrms.Option("colour", "string", "blue", "A new option.", ("blue", "red")),
        lrms.Option("depth", "positive integer", required=True, help="Another one."),
    )


def test_a_new_backend_and_its_options_appear_without_editing_the_docs(
    lrms_docs: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_list, real_load = lrms.backends.list_backends, lrms.backends.load_backend_class
    new = lrms.BackendInfo("newone", f"{__name__}:NewBackend", None, None)
    monkeypatch.setattr(lrms.backends, "list_backends", lambda: [*real_list(), new])
    monkeypatch.setattr(lrms.backends, "load_backend_class",
                        lambda name: NewBackend if name == "newone" else real_load(name))

    table = {table.backend: table for table in lrms_docs.config_tables()}["newone"]

    assert names(table.options) == ["spool", "colour", "depth"]
    assert "``backend: newone``" in table.intro
    rows = {row[0]: row for row in map(lrms_docs.option_row, table.options)}
    assert rows["``colour``"] == ("``colour``", "string: ``blue`` | ``red``", "``blue``",
                                  "A new option.")
    assert rows["``depth``"][2] == "required"


def test_core_auth_and_agent_tables_come_first(lrms_docs: ModuleType) -> None:
    core, auth, agent = lrms_docs.config_tables()[:3]
    assert names(core.options) == names(CORE_OPTIONS)
    assert names(auth.options) == names(SSH_AUTH_OPTIONS)
    assert names(agent.options) == names(AGENT_OPTIONS) == ["enabled", "linger"]
