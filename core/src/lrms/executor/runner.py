"""The remote side of :class:`lrms.Executor`: ``PYTHON lrms_runner.py lrms-call``.

This file is sent with every executor job as an input file and run by the
resource's Python, which need not have lrms installed: it uses the standard
library, plus cloudpickle to load the call.  It must stay loadable by any
Python 3 (old or new) so that a version mismatch is reported, not a crash.

The call file holds one JSON header line (the caller's Python version) and
the cloudpickled ``(function, args, kwargs)``.  The runner compares the
versions before unpickling anything, calls the function, and writes the
result file: one JSON header line (``outcome``: ``value``, ``raised``,
``mismatch``, ``missing-module``, ``unloadable`` or ``unsendable``) and, for
``value`` and ``raised``, the pickled return value or exception.  It exits 0
when the function returned, 1 when anything else was recorded.
"""

import json
import os
import pickle
import platform
import sys
import traceback
from typing import Any

FORMAT = 1
CALL_FILE = "lrms-call"
RESULT_FILE = "lrms-result"
RUNNER_FILE = "lrms_runner.py"


def version_text() -> str:
    return platform.python_version()


def write_result(header: "dict[str, object]", body: bytes = b"") -> None:
    """Write the result file atomically (a half-written one is never seen)."""
    header = dict(header, format=FORMAT, python=version_text(),
                  version=list(sys.version_info[:2]), executable=sys.executable)
    temporary = RESULT_FILE + ".part"
    with open(temporary, "wb") as out:
        out.write(json.dumps(header).encode() + b"\n" + body)
    os.replace(temporary, RESULT_FILE)


def load_call(path: str) -> Any:
    """The call in ``path``, or None once a result saying why it cannot be loaded is written."""
    with open(path, "rb") as source:
        header = json.loads(source.readline().decode())
        caller = tuple(header["version"])
        if caller != tuple(sys.version_info[:2]):
            write_result({"outcome": "mismatch", "caller": header["python"]})
            return None
        try:
            import cloudpickle  # type: ignore[import-untyped]  # noqa: F401

            call = pickle.load(source)  # noqa: S301  (the user's own payload)
        except ModuleNotFoundError as exc:
            write_result({"outcome": "missing-module", "module": exc.name,
                          "traceback": traceback.format_exc()})
            return None
        except Exception:
            write_result({"outcome": "unloadable", "traceback": traceback.format_exc()})
            return None
    function, args, kwargs = call
    return function, args, kwargs


def main(argv: "list[str]") -> int:
    call = load_call(argv[1] if len(argv) > 1 else CALL_FILE)
    if call is None:
        return 1
    import cloudpickle

    function, args, kwargs = call
    try:
        value = function(*args, **kwargs)
    except BaseException as exc:  # handed back to the caller
        text = traceback.format_exc()
        try:
            body = cloudpickle.dumps(exc)
            pickle.loads(body)  # noqa: S301  (the bytes just made: can the exception be rebuilt?)
        except Exception:
            write_result({"outcome": "raised", "type": type(exc).__qualname__,
                          "message": str(exc), "traceback": text})
        else:
            write_result({"outcome": "raised", "traceback": text}, body)
        return 1
    try:
        body = cloudpickle.dumps(value)
    except Exception as exc:
        write_result({"outcome": "unsendable",
                      "message": f"{type(value).__qualname__} value: {exc}"})
        return 1
    write_result({"outcome": "value"}, body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
