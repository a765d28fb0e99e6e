"""The batch base's job script: quoting that bash reads back exactly, one line per value."""

from __future__ import annotations

import json
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

import lrms
from lrms.batch import bash_quote, render_script

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, max_size=4))
def test_bash_quote_round_trips_on_one_line(values):
    words = " ".join(bash_quote(v) for v in values)
    assert "\n" not in words and "\r" not in words
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True,
                         check=True).stdout
    got = out.split(b"\0")[:-1] if values else []
    assert [g.decode() for g in got] == values


def test_script_runs_argv_exactly_and_records_exit(tmp_path):
    hostile = ["$(id)", "`id`", "a\n#SBATCH --x\n#$ -N y", "'", '"', "*", "--", "", "ü ✓", "\\"]
    app = lrms.Application(
        ["python3", "-c", "import sys, json; json.dump(sys.argv[1:], open('a.json', 'w'))",
         *hostile], environment={"X": "two\nlines"}, stdout="o u t")
    job = lrms.Job(app)
    (tmp_path / ".lrms").mkdir()
    script = render_script(app, job, str(tmp_path), epilogue=["true"])
    directive_lines = [line for line in script.splitlines() if line.startswith(("#SBATCH", "#$"))]
    assert directive_lines == []
    (tmp_path / "job.sh").write_text(script)
    subprocess.run(["bash", str(tmp_path / "job.sh")], check=True, timeout=30)
    assert json.loads((tmp_path / "a.json").read_text()) == hostile
    assert (tmp_path / ".lrms" / "exit").read_text() == "0\n"
    assert (tmp_path / "o u t").exists()
