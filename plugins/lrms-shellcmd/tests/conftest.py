"""Fixtures of the shellcmd backend's tests."""

from __future__ import annotations

import pytest

import lrms


@pytest.fixture
def resource(tmp_path):
    """A local 2-core shellcmd resource with its spool in the test's folder (grace 1 s)."""
    res = lrms.LRMS("local", ["x86_64", "aarch64"], 2, 2, "1GiB", "1h", backend="shellcmd",
                    spool=str(tmp_path / "spool"), grace=1)
    yield res
    res.close()
