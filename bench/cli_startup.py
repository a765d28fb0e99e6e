"""Start-up time of the ``lrms`` command next to a bare Python start, in the same run.

Times ``lrms --help``, ``lrms status --help``, ``lrms backends --no-check`` and
``lrms backends`` (which loads every installed backend to check it) as
subprocesses of the installed script, and ``python -c pass`` with the same
interpreter; prints medians and the overhead over bare Python (target:
``lrms --help`` within 4x of ``python -c pass``).  Then lists what
``lrms --help`` imports: no backend, paramiko, stevedore, pluggy, YAML,
engine, store or configuration module may be among them, and the largest
imports by ``python -X importtime``.

    python bench/cli_startup.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import timed

BIN = Path(sys.executable).parent
LRMS = str(BIN / "lrms")
FORBIDDEN = ("lrms_", "paramiko", "stevedore", "pluggy", "yaml", "lrms.engine", "lrms.store",
             "lrms.config", "lrms.application")
TARGET_RATIO = 4.0  # lrms --help within this many times python -c pass

PROBE = """\
import contextlib, io, sys
from lrms.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["--help"])
print("\\n".join(sorted(sys.modules)))
"""


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "LRMS_STORE": f"{home}/jobs.db"}
        env.pop("LRMS_CONFIG", None)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import lrms'": [sys.executable, "-c", "import lrms"],
            "lrms --help": [LRMS, "--help"],
            "lrms status --help": [LRMS, "status", "--help"],
            "lrms backends --no-check": [LRMS, "backends", "--no-check"],
            "lrms backends": [LRMS, "backends"],
            "lrms status --no-refresh (empty store)": [LRMS, "status", "--no-refresh"],
        }
        for argv in cases.values():  # warm the file cache
            run(argv, env)
        medians = {name: timed(lambda argv=argv: run(argv, env), args.repeat)
                   for name, argv in cases.items()}
        base = medians["python -c pass"]
        print(f"median of {args.repeat} runs (interpreter {sys.executable})")
        for name, seconds in medians.items():
            print(f"  {name:<40} {seconds * 1000:7.1f} ms   +{(seconds - base) * 1000:6.1f} ms "
                  f"over bare python   x{seconds / base:5.1f}")
        ratio = medians["lrms --help"] / base
        print(f"lrms --help: {medians['lrms --help'] * 1000:.0f} ms, x{ratio:.1f} python -c pass "
              f"(target within x{TARGET_RATIO:g}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")

        modules = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
        bad = [m for m in modules if m.startswith(FORBIDDEN)]
        ours = [m for m in modules if m.startswith("lrms")]
        print(f"modules imported by 'lrms --help': {len(modules)} in all, {len(ours)} of lrms; "
              f"forbidden ones ({', '.join(FORBIDDEN)}): {', '.join(bad) or 'none'}")
        print(f"  third-party: {', '.join(third_party(modules)) or 'none'}")
        trace = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                "from lrms.cli import main; main(['--help'])"], env=env,
                               capture_output=True, text=True, check=True).stderr
        print("largest cumulative imports (python -X importtime), microseconds:")
        for cumulative, name in largest(trace, 8):
            print(f"  {cumulative:8d}  {name}")


def third_party(modules: list[str]) -> list[str]:
    stdlib = set(sys.stdlib_module_names)
    tops = {m.split(".")[0] for m in modules}
    return sorted(t for t in tops if t not in stdlib and not t.startswith(("lrms", "_")))


def largest(trace: str, count: int) -> list[tuple[int, str]]:
    rows = []
    for line in trace.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 6:  # lrms.cli, lrms, and the modules lrms imports
            rows.append((int(match.group(1)), match.group(3)))
    return sorted(rows, reverse=True)[:count]


if __name__ == "__main__":
    main()
