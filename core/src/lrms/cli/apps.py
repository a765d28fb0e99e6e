"""Applications from the command line: options, a YAML/JSON list (--file), a parameter file.

Every problem is a :class:`UsageError` naming the file, the entry (or line) and the key.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..application import Application
from ..errors import ConfigError, one_line
from ..quantity import Duration, Memory
from ..yamlfile import MAX_BYTES, parse, read_text
from .session import UsageError


def _usage(text: str) -> UsageError:
    """A usage error on one line, however long or odd the values quoted in it."""
    return UsageError(one_line(text))


PLACEHOLDER = re.compile(r"\{(\d*)\}")  # {} or {N} in a --params command
Checker = Callable[[Any], Any]


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return [_text(item) for item in value]


def _argv(value: Any) -> list[str]:
    if isinstance(value, str):
        raise ValueError(f"expected an argv list such as [echo, hello], got the string {value!r}"
                         " (it is never split or given to a shell)")
    argv = _texts(value)
    if not argv:
        raise ValueError("needs at least the program to run")
    return argv


def _inputs(value: Any) -> list[str] | dict[str, str]:
    if isinstance(value, Mapping):
        return {_text(key): _text(name) for key, name in value.items()}
    return _texts(value)


def _environment(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of NAME: value, got {value!r}")
    return {_text(key): _text(item) for key, item in value.items()}


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _memory(value: Any) -> Memory:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"expected a memory size such as 2GiB, got {value!r}")
    return Memory.positive(value)


def _duration(value: Any) -> Duration:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a duration such as 1h, got {value!r}")
    return Duration.positive(value)


def _texts_or_csv(value: Any) -> list[str]:
    return [item for item in value.split(",") if item] if isinstance(value, str) else (
        _texts(value))


def _after(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else _texts(value)


def begin_time(value: Any) -> float:
    """A start time as POSIX seconds: ISO 8601 (local time without an offset), a date,
    or an offset from now such as ``+30min``."""
    if isinstance(value, str) and value.strip().startswith("+"):
        return time.time() + Duration.positive(value.strip()[1:]).seconds
    moment: Any = value
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    elif isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        moment = datetime.datetime.combine(value, datetime.time())
    if not isinstance(moment, datetime.datetime):
        raise ValueError(f"expected a time such as 2026-12-07T10:00 or an offset such as "
                         f"+30min, got {value!r}")
    return moment.timestamp()


def _extra(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ValueError(f"expected backend names mapped to options, got {value!r}")
    return {_text(key): dict(options) for key, options in value.items()}


#: The keys of a --file entry and the checker of each value.
KEYS: dict[str, Checker] = {
    "arguments": _argv, "inputs": _inputs, "outputs": _texts, "environment": _environment,
    "jobname": _text, "requested_cores": _whole, "requested_memory": _memory,
    "requested_walltime": _duration, "requested_architecture": _text, "stdin": _text,
    "stdout": _text, "stderr": _text, "join": _flag, "extra": _extra,
    "workdir": _text, "gpus": _whole, "nodes": _whole, "tasks_per_node": _whole,
    "exclusive": _flag, "constraint": _text, "launcher": _text, "account": _text,
    "qos": _text, "reservation": _text, "email": _text, "email_events": _texts_or_csv,
    "hold": _flag, "begin": begin_time, "after": _after,
}
#: --file keys whose Application keyword differs.
RENAMED = {"gpus": "requested_gpus", "begin": "earliest_start"}
#: Template options given on the command line: (option attribute, Application keyword).
TEMPLATE_OPTIONS = (
    ("workdir", "workdir"), ("nodes", "nodes"), ("tasks_per_node", "tasks_per_node"),
    ("gpus", "requested_gpus"), ("exclusive", "exclusive"), ("constraint", "constraint"),
    ("launcher", "launcher"), ("account", "account"), ("qos", "qos"),
    ("reservation", "reservation"), ("mail_user", "email"), ("hold", "hold"),
)


# -- the command-line options ------------------------------------------------------------


def environment(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings as a mapping."""
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _usage(f"--env needs NAME=VALUE, got {item!r}")
        result[name] = value
    return result


def command_of(args: argparse.Namespace) -> list[str]:
    """The command after ``--``."""
    command: list[str] = list(args.argv)
    return command[1:] if command[:1] == ["--"] else command


def defaults(args: argparse.Namespace) -> dict[str, Any]:
    """Application keyword arguments given by the request options (only those given)."""
    given: dict[str, Any] = {}
    if args.input:
        given["inputs"] = list(args.input)
    if args.output:
        given["outputs"] = list(args.output)
    if args.env:
        given["environment"] = environment(args.env)
    for option, key in (("name", "jobname"), ("cores", "requested_cores"),
                        ("memory", "requested_memory"), ("walltime", "requested_walltime"),
                        *TEMPLATE_OPTIONS):
        if getattr(args, option) is not None:
            given[key] = getattr(args, option)
    if args.mail_type is not None:
        given["email_events"] = _texts_or_csv(args.mail_type)
    if args.after:
        given["after"] = list(args.after)
    if args.begin is not None:
        try:
            given["earliest_start"] = begin_time(args.begin)
        except ValueError as exc:
            raise _usage(f"--begin: {exc}") from None
    if args.stdin is not None:
        given["inputs"] = [*given.get("inputs", []), args.stdin]
        given["stdin"] = os.path.basename(os.path.abspath(args.stdin))
    return given


def _with_streams(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Add the job's stdout and stderr to its outputs, so that fetch brings them back."""
    outputs = list(kwargs.get("outputs") or [])
    streams = [kwargs.get("stdout", "stdout")]
    if not kwargs.get("join"):
        streams.append(kwargs.get("stderr", "stderr"))
    outputs += [name for name in streams if name not in outputs]
    return {**kwargs, "outputs": outputs}


def _make(kwargs: dict[str, Any], where: str, streams: bool) -> Application:
    if streams:
        kwargs = _with_streams(kwargs)
    try:
        app = Application(**kwargs)
    except (ValueError, TypeError) as exc:
        raise _usage(f"{where}{exc}") from None
    for source in app.local_inputs():
        if not os.path.exists(source):
            raise _usage(f"{where}input file {source} does not exist")
    return app


def from_options(args: argparse.Namespace, *, streams: bool) -> Application:
    """The one application of ``lrms run`` / ``lrms submit -- COMMAND``."""
    command = command_of(args)
    if not command:
        raise _usage(f"{args.command} needs a command after '--', e.g. "
                         f"lrms {args.command} -- echo hello")
    return _make({"arguments": command, **defaults(args)}, "", streams)


# -- --file ---------------------------------------------------------------------------------


def _load(path: str) -> Any:
    try:
        text = read_text(path)
        if not path.endswith(".json"):
            return parse(text, path)
    except ConfigError as exc:
        raise _usage(str(exc)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _usage(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise _usage(f"{path}: invalid JSON: nested too deeply") from None


def from_file(path: str, given: Mapping[str, Any], *, streams: bool) -> list[Application]:
    """One application per entry of a YAML or JSON list; ``given`` fills in missing keys."""
    data = _load(path)
    if not isinstance(data, list) or not data:
        raise _usage(f"{path}: expected a non-empty list of applications (mappings with "
                         "at least 'arguments'), got "
                         f"{'an empty list' if data == [] else type(data).__name__}")
    base = os.path.dirname(os.path.abspath(path))
    apps = []
    for number, entry in enumerate(data, 1):
        line = getattr(entry, "line", None)
        where = f"{path}:{line}: entry {number}" if line else f"{path}: entry {number}"
        if not isinstance(entry, Mapping):
            raise _usage(f"{where}: expected a mapping with at least 'arguments', "
                             f"got {entry!r}")
        kwargs = dict(given)
        for key, value in entry.items():
            key_line = getattr(entry, "key_lines", {}).get(key)
            at = f"{path}:{key_line}: entry {number}" if key_line else where
            if key not in KEYS:
                raise _usage(f"{at}: {key}: unknown key (known: {', '.join(KEYS)})")
            try:
                kwargs[RENAMED.get(key) or key] = KEYS[key](value)
            except ValueError as exc:
                raise _usage(f"{at}: {key}: {exc}") from None
        if "arguments" not in entry:
            raise _usage(f"{where}: arguments: missing (the argv to run, e.g. "
                             "[python3, sim.py])")
        if "inputs" in entry:
            kwargs["inputs"] = _relative_to(base, kwargs["inputs"])
        apps.append(_make(kwargs, f"{where}: ", streams))
    return apps


def _relative_to(base: str, inputs: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
    def local(source: str) -> str:
        if "://" in source:
            return source
        return os.path.join(base, os.path.expanduser(source))

    if isinstance(inputs, dict):
        return {local(src): name for src, name in inputs.items()}
    return [local(src) for src in inputs]


# -- --params -------------------------------------------------------------------------------


def _fill(text: str, line: str, fields: list[str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if not match.group(1):
            return line
        index = int(match.group(1))
        if not 1 <= index <= len(fields):
            raise _usage(f"{where}: {{{index}}} has no field to take: the line has "
                             f"{len(fields)} field(s)")
        return fields[index - 1]

    return PLACEHOLDER.sub(replace, text)


STDIN = "<stdin>"  # how messages name the lines of --params -


def _stdin_text() -> str:
    """The parameter lines piped in for ``--params -`` (UTF-8, at most ``MAX_BYTES``)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise _usage("--params -: standard input is a terminal: pipe the parameter lines in, "
                     "e.g. seq 10 | lrms submit --params - -- python3 sim.py --seed {}")
    data = sys.stdin.buffer.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _usage(f"--params -: standard input holds more than {Memory(MAX_BYTES)}: "
                     "give the lines in a file")
    if not data.strip():
        raise _usage("--params -: standard input is empty: pipe the parameter lines in")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _usage(f"{STDIN}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def from_params(path: str, args: argparse.Namespace, *, streams: bool) -> list[Application]:
    """One application per non-blank, non-comment line of ``path`` (``-``: standard
    input), placeholders filled."""
    command = command_of(args)
    if not command:
        raise _usage("submit --params needs a command after '--' with {} or {1} {2}... "
                         "placeholders, e.g. lrms submit --params seeds.txt -- sim --seed {1}")
    if path == "-":
        lines, path = _stdin_text().splitlines(), STDIN
    else:
        try:
            lines = read_text(path).splitlines()
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    given = defaults(args)
    placeholders = any(PLACEHOLDER.search(word) for word in command)
    apps = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        where = f"{path}:{number}"

        def fill(text: str, line: str = line, fields: list[str] = fields,
                 where: str = where) -> str:
            return _fill(text, line, fields, where)

        argv = [fill(word) for word in command]
        if not placeholders:
            argv += fields
        kwargs: dict[str, Any] = {**given, "arguments": argv}
        kwargs["jobname"] = (fill(given["jobname"]) if "jobname" in given
                             else f"{os.path.basename(argv[0]) or 'job'}-{number}")
        if "inputs" in given:
            kwargs["inputs"] = [fill(item) for item in given["inputs"]]
        if "outputs" in given:
            kwargs["outputs"] = [fill(item) for item in given["outputs"]]
        if "environment" in given:
            kwargs["environment"] = {k: fill(v) for k, v in given["environment"].items()}
        apps.append(_make(kwargs, f"{where}: ", streams))
    if not apps:
        raise _usage(f"{path}: no parameter lines (blank lines and # comments are skipped)")
    return apps
