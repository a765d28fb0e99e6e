"""Hostile and broken configurations and job files, through the real ``lrms`` command.

Each case runs in a subprocess with its own ``HOME`` and job store, under a 512 MiB address
space limit (so that a blow-up fails), and must end with one line naming the file (and the
line, where there is one) and no traceback, finish (a 10 s hang guard, not a performance
check), keep a small peak resident size (sampled) and leave every file of the user as it was.
Configuration cases are also loaded through :func:`lrms.load_config` in this process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import lrms
from lrms.yamlfile import MAX_BYTES, MAX_DEPTH, MAX_REPEATED

LRMS = str(Path(sys.executable).with_name("lrms"))
ADDRESS_SPACE = 512 * 1024**2  # RLIMIT_AS of every child
PEAK_RSS_MIB = 150  # a failed command of lrms stays well under this (it starts at ~25 MiB)
HANG_GUARD = 10.0  # seconds: a case still running then has hung

GOOD = """\
resources:
  localhost:
    backend: shellcmd
    max_cores: 2
    max_cores_per_job: 2
    max_memory_per_core: 1GiB
    max_walltime: 1h
    architecture: [x86_64]
"""


def laughs(indent: str, first: str) -> str:
    """The 'billion laughs': nine levels of nine aliases each (about 400 bytes)."""
    lines = [f"{first}&a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{indent}{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n")
    return "".join(lines)


def nested_block(levels: int) -> str:
    return "".join(f"{'  ' * level}k{level}:\n" for level in range(levels)) + "  " * levels + "x\n"


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link(target: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.symlink_to(target)
        return path
    return make


def sparse(size: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        with open(path, "wb") as handle:
            handle.truncate(size)
        return path
    return make


def directory(path: Path) -> Path:
    path.mkdir()
    return path


@dataclasses.dataclass(frozen=True)
class Case:
    """A file given to lrms: its content (or a maker), the problem and its real line."""

    name: str
    kind: str  # "config" (lrms config check, lrms --config F resources) or "jobs" (--file)
    content: str | bytes | Callable[[Path], Path]
    problem: str
    line: int | None = None
    suffix: str = ".yaml"
    path: str | None = None  # a path given as it is (e.g. /dev/zero)


MERGED = GOOD.replace("  localhost:\n", "  localhost: &base\n") + """\
  other:
    <<: *base
    max_walltime: 0s
"""

CASES = [
    # -- aliases: expansion, recursion -------------------------------------------------------
    Case("billion-laughs", "config", "resources:\n" + laughs("  ", "  a: "),
         f"aliases repeat more than {MAX_REPEATED} values", 7),
    Case("billion-laughs-jobs", "jobs", "- arguments: [echo]\n  extra:\n    x:\n"
         + laughs("      ", "      a: "), f"aliases repeat more than {MAX_REPEATED}", 9),
    Case("laughs-in-mappings", "config",
         "resources:\n  a: &a {k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}\n"
         + "".join(f"  {n}: &{n} {{{', '.join(f'k{i}: *{p}' for i in range(8))}}}\n"
                   for p, n in zip("abcdefg", "bcdefgh")),
         f"aliases repeat more than {MAX_REPEATED}", 7),
    Case("laughs-as-a-key", "config",
         "resources:\n" + laughs("  ", "  a: ") + "  ? *i\n  : 1\n",
         "must be a string", 11),
    Case("laughs-through-merge-keys", "config",
         "resources:\n  a: &a {k: [x, x, x, x, x, x, x, x, x, x]}\n"
         + "".join(f"  {n}: &{n} {{{', '.join(f'k{i}: *{p}' for i in range(9))}}}\n"
                   for p, n in zip("abcd", "bcde")) + "  h:\n    <<: *e\n",
         f"aliases repeat more than {MAX_REPEATED}", 8),
    Case("many-aliases-near-the-size-limit", "config",
         "resources:\n  a: &a [x]\n  b: [" + ", ".join(["*a"] * ((MAX_BYTES - 40) // 4)) + "]\n",
         f"aliases repeat more than {MAX_REPEATED}", 3),
    Case("recursive-sequence", "config", "resources:\n  a: &a [x, *a]\n",
         "recursive alias", 2),
    Case("recursive-mapping", "config", "resources: &r\n  localhost: *r\n",
         "recursive alias", 2),
    Case("recursive-merge", "config", "resources:\n  a: &a\n    <<: *a\n",
         "recursive alias", 3),
    Case("recursive-jobs", "jobs", "- &e\n  arguments: [echo]\n  extra: {x: *e}\n",
         "recursive alias", 3),
    Case("undefined-alias", "config", GOOD + "    spool: *nowhere\n", "undefined alias", 9),
    # -- files that are not small regular files ----------------------------------------------
    Case("dev-zero", "config", "", "not a regular file (a character device)", path="/dev/zero"),
    Case("dev-zero-jobs", "jobs", "", "not a regular file (a character device)",
         path="/dev/zero"),
    Case("link-to-dev-zero", "config", link("/dev/zero"), "not a regular file"),
    Case("fifo", "config", fifo, "not a regular file (a FIFO)"),
    Case("fifo-jobs", "jobs", fifo, "not a regular file (a FIFO)"),
    Case("directory", "config", directory, "not a regular file (a directory)"),
    Case("huge-sparse", "config", sparse(20 * 1024**3), "too large: 20GiB (at most 1MiB)"),
    Case("huge-sparse-jobs", "jobs", sparse(20 * 1024**3), "too large: 20GiB"),
    Case("one-byte-too-many", "config", "#" * (MAX_BYTES + 1), "too large"),
    # -- nesting -----------------------------------------------------------------------------
    Case("deep-flow", "config", "resources: " + "[" * 100_000, "nest", 1),  # libyaml's, or ours
    Case("deep-flow-within-libyaml's-bound", "config", "resources: " + "[" * 200,
         f"more than {MAX_DEPTH} levels", 1),
    Case("deep-block", "config", nested_block(2 * MAX_DEPTH),  # line N has a key N+1 deep
         f"more than {MAX_DEPTH} levels", MAX_DEPTH),
    Case("deep-flow-jobs", "jobs", "- arguments: [echo]\n  extra: " + "{a: " * 100_000,
         f"more than {MAX_DEPTH} levels", 2),
    Case("deep-json-jobs", "jobs", "[" * 100_000, "nested too deeply", suffix=".json"),
    Case("deep-through-aliases", "config", "resources:\n  a: &a "
         + "[" * (MAX_DEPTH - 10) + "]" * (MAX_DEPTH - 10) + "\n"
         + "".join(f"  {n}: &{n} [[*{p}]]\n" for p, n in zip("abcdef", "bcdefg")),
         f"more than {MAX_DEPTH} levels", 7),
    # -- characters and encodings ------------------------------------------------------------
    Case("nul-byte", "config", GOOD.replace("    backend: shellcmd", "    backend: shell\0cmd"),
         "special characters are not allowed", 3),
    Case("nul-byte-jobs", "jobs", "- arguments: [echo]\n\n- arguments: [a\0]\n",
         "special characters are not allowed", 3),
    Case("latin-1", "config", GOOD.encode() + b"    spool: /tmp/caf\xe9\n", "not UTF-8", 9),
    Case("utf-16", "jobs", "- arguments: [echo]\n".encode("utf-16"), "not UTF-8", 1),
    Case("newline-in-a-key", "config", GOOD + '"bad\\nsection": 1\n', "bad\\nsection", 9),
    Case("huge-value", "config", GOOD.replace("max_cores: 2", "max_cores: " + "9x" * 400_000),
         "expected a whole number", 4),
    Case("bom-and-bad-line", "config", "\ufeff" + GOOD.replace("max_cores: 2", "max_cores: two"),
         "expected a whole number", 4),
    Case("crlf-and-bad-line", "config",
         GOOD.replace("\n", "\r\n").replace("max_walltime: 1h", "max_walltime: soon"),
         "invalid duration 'soon'", 7),
    # -- broken YAML: the line is the real one ----------------------------------------------
    Case("unclosed-quote-at-end", "config", GOOD + '    spool: "/scratch\n', "quoted scalar", 9),
    Case("unclosed-flow-at-end", "jobs", "- arguments: [echo]\n- arguments: [echo, hi\n\n",
         "flow sequence", 2),
    Case("unclosed-flow-mapping", "config", GOOD + "    spool: {a: 1\n", "flow mapping", 9),
    Case("tab-indentation", "config", GOOD.replace("    max_cores: 2", "\tmax_cores: 2"),
         "invalid YAML", 4),
    Case("two-documents", "config", GOOD + "---\n" + GOOD, "single document", 9),
    Case("python-tag", "config", GOOD + "    spool: !!python/object/apply:os.system [touch x]\n",
         "unsupported tag 'tag:yaml.org,2002:python/object/apply:os.system'", 9),
    Case("python-tag-on-a-scalar", "config", GOOD + "    spool: !!python/name:os.system ''\n",
         "could not determine a constructor", 9),
    Case("python-tag-jobs", "jobs",
         "- arguments: !!python/object/apply:os.system [touch pwned]\n", "unsupported tag", 1),
    Case("set-tag-jobs", "jobs", "- arguments: !!set {echo: null}\n", "unsupported tag", 1),
    Case("list-not-mapping", "config", "- resources\n", "must be a mapping", 1),
    Case("empty", "config", "# nothing\n", "the file is empty"),
    Case("empty-jobs", "jobs", "", "expected a non-empty list"),
    # -- merge keys and quantities -----------------------------------------------------------
    Case("merge-of-a-scalar", "config", GOOD + "    <<: 3\n", "merge key", 9),
    Case("merge-of-a-list-of-scalars", "jobs", "- arguments: [echo]\n  <<: [a, b]\n",
         "merge key", 2),
    Case("merged-zero-walltime", "config", MERGED,
         "resources.other.max_walltime: invalid duration '0s'", 11),
    Case("merged-key-keeps-its-line", "config",
         MERGED.replace("max_walltime: 0s", "max_cores: 1"),
         "resources.other.max_cores_per_job: 2 is more than max_cores (1)", 5),
    Case("zero-memory", "config", GOOD.replace("1GiB", "0GiB"),
         "invalid memory quantity '0GiB'", 6),
    Case("clock-minutes-over-59", "config", GOOD.replace("max_walltime: 1h",
                                                         "max_walltime: '25:61:00'"),
         "invalid duration '25:61:00'", 7),
    Case("zero-walltime-jobs", "jobs", "- arguments: [echo]\n  requested_walltime: 0s\n",
         "requested_walltime: invalid duration '0s'", 2),
    Case("zero-memory-jobs", "jobs", "- arguments: [echo]\n  requested_memory: 0\n",
         "requested_memory: invalid memory quantity 0", 2),
    Case("clock-seconds-over-59-jobs", "jobs", "- arguments: [echo]\n  requested_walltime: 1:60\n",
         "invalid duration '1:60'", 2),
]


@dataclasses.dataclass
class Outcome:
    code: int
    text: str
    seconds: float
    peak_mib: float  # sampled every 10 ms: a lower bound of the peak


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def high_water_kib(pid: int) -> int:
    """The child's peak resident size so far (VmHWM; ru_maxrss would count this process's
    size at fork), 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run(args: list[str], home: Path, logs: Path) -> Outcome:
    """Run ``lrms ARGS``; its exit code, output, wall time and peak resident size."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "NO_COLOR": "1",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".share"),
           "LRMS_STORE": str(home / "jobs.db"), "LANG": "C.UTF-8"}
    out, err = logs / "out", logs / "err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        started = time.monotonic()
        child = subprocess.Popen([LRMS, *args], stdin=subprocess.DEVNULL, stdout=stdout,
                                 stderr=stderr, env=env, cwd=home, preexec_fn=limit_memory)
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, high_water_kib(child.pid))
        pid, status, _ = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > HANG_GUARD:
            os.kill(child.pid, signal.SIGKILL)
            os.wait4(child.pid, 0)
            child.returncode = -9
            pytest.fail(f"lrms {' '.join(args)[:200]} did not finish in {HANG_GUARD:.0f} s")
        time.sleep(0.01)
    child.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text(errors="replace") + err.read_text(errors="replace")
    return Outcome(child.returncode, text, time.monotonic() - started, peak_kib / 1024)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root``: its type, size, mtime and (small regular files) hash."""
    seen: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path) and info.st_size <= 2 * MAX_BYTES:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            seen[path] = (info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return seen


def make(case: Case, home: Path) -> str:
    if case.path:
        return case.path
    path = home / f"{case.kind}{case.suffix}"
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return str(path)


def commands(case: Case, path: str) -> list[list[str]]:
    if case.kind == "config":
        return [["config", "check", path], ["--config", path, "resources"]]
    return [["submit", "--file", path]]


def assert_one_line(text: str, case: Case, path: str) -> None:
    assert "Traceback" not in text, text[-3000:]
    line = text.strip()
    assert "\n" not in line and len(line) < 1000, line[:3000]
    assert case.problem in line, line
    where = f"{path}:{case.line}:" if case.line else f"{path}:"
    assert where in line, line


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_file_gets_one_line(case, tmp_path):
    home, logs = tmp_path / "home", tmp_path / "logs"
    home.mkdir()
    logs.mkdir()
    path = make(case, home)
    before = snapshot(home)
    for args in commands(case, path):
        done = run(args, home, logs)
        print(f"{case.name}: lrms {args[0]}: {done.seconds:.2f} s, "
              f"peak {done.peak_mib:.0f} MiB")
        assert done.code == 2, done.text[-3000:]
        assert_one_line(done.text, case, path)
        assert done.peak_mib < PEAK_RSS_MIB
        assert snapshot(home) == before
    if case.kind == "config":
        with pytest.raises(lrms.ConfigError) as info:
            lrms.load_config(path)
        assert_one_line(str(info.value), case, path)
        assert snapshot(home) == before


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)
