"""``lrms --version``, ``backends``, ``resources`` and ``config check``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ..backends import list_backends
from ..config import load_config
from ..errors import ConfigError, LRMSError
from ..resource import check_backend
from ..status import ResourceStatus
from .render import colour_on, paint, print_json, table, terminal_text
from .session import EXIT_OK, EXIT_RESOURCE, EXIT_USAGE, Session

NO_BACKEND = ("No backend is installed. Install one, e.g.: pip install lrms-shellcmd "
              "(or lrms-slurm, lrms-sge, lrms-pbs).")


def version() -> int:
    from .. import __version__

    print(f"lrms {__version__}")
    for info in list_backends():
        print(f"{info.name}: {info.distribution} {info.version}")
    return EXIT_OK


def backends(session: Session, args: argparse.Namespace) -> int:
    infos = list_backends()
    problems = {info.name: None if args.no_check else check_backend(info.name)
                for info in infos}
    if args.json:
        print_json([{**info.__dict__, "checked": not args.no_check,
                     "problem": problems[info.name]} for info in infos])
        return EXIT_OK
    if not infos:
        print(NO_BACKEND)
        return EXIT_OK
    colour = colour_on(sys.stdout)
    width = max(len(info.name) for info in infos)
    for info in infos:
        problem = problems[info.name]
        verdict = "" if args.no_check else "  " + (paint("BROKEN", "red", colour) if problem
                                                    else paint("ok", "green", colour))
        print(terminal_text(f"{info.name:<{width}}  {info.distribution or '?'} "
                            f"{info.version or '?'}  ({info.target})") + verdict)
        for line in (problem or "").splitlines():
            print(f"{'':<{width}}  {terminal_text(line)}")
    return EXIT_OK


def _limits(resource: Any) -> dict[str, Any]:
    return {"backend": resource.backend_name, "frontend": resource.frontend,
            "max_cores": resource.max_cores, "max_cores_per_job": resource.max_cores_per_job,
            "max_memory_per_core": str(resource.max_memory_per_core),
            "max_walltime": str(resource.max_walltime),
            "architecture": sorted(arch.value for arch in resource.architecture)}


def resources(session: Session, args: argparse.Namespace) -> int:
    engine = session.engine()
    config = engine.config
    entries: list[dict[str, Any]] = []
    for name, answer in engine.resource_status():
        entry: dict[str, Any] = {"name": name, "backend": config.backend_of(name)}
        with contextlib.suppress(LRMSError):  # the same error is the status answer
            entry.update(_limits(engine.resource(name)))
        if isinstance(answer, ResourceStatus):
            entry["status"], entry["error"] = answer.to_dict(), None
        else:
            entry["status"], entry["error"] = None, str(answer)
        entries.append(entry)
    code = EXIT_RESOURCE if any(entry["error"] for entry in entries) else EXIT_OK
    if args.json:
        print_json(entries)
        return code
    colour = colour_on(sys.stdout)
    rows = []
    for entry in entries:
        status = entry["status"] or {}

        def live(key: str, status: dict[str, Any] = status) -> str:
            value = status.get(key)
            return "-" if value is None else str(value)

        free = (f"{live('free_slots')}/{live('total_slots')}" if status
                else ("unreachable", "red"))
        rows.append([entry["name"], entry["backend"], entry.get("frontend", "-"),
                     str(entry.get("max_cores", "-")), str(entry.get("max_cores_per_job", "-")),
                     entry.get("max_memory_per_core", "-"), entry.get("max_walltime", "-"),
                     free, live("queued"), f"{live('user_run')}/{live('user_queued')}"])
    print(table(("NAME", "BACKEND", "HOST", "CORES", "PER JOB", "MEM/CORE", "WALLTIME",
                 "FREE/TOTAL", "QUEUED", "MINE RUN/QUEUED"), rows, colour))
    for entry in entries:
        if entry["error"]:
            print(f"{terminal_text(entry['name'])}: {paint('error', 'red', colour)}: "
                  f"{terminal_text(entry['error'])}")
        for note in (entry["status"] or {}).get("notes", ()):
            print(f"{terminal_text(entry['name'])}: {paint('note', 'yellow', colour)}: "
                  f"{terminal_text(note)}")
    return code


def config(session: Session, args: argparse.Namespace) -> int:
    """``lrms config check``: load the configuration and build every resource."""
    path = args.file or args.config
    names: list[str] = []
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        problems, where = [exc], exc.path
    else:
        try:
            problems = loaded.check_all()
        finally:
            loaded.close()
        names, where = loaded.resource_names, loaded.path
    if args.json:
        print_json({"path": where, "resources": names,
                    "problems": [{"path": p.path, "line": p.line, "key": p.key,
                                  "problem": p.problem, "message": str(p)} for p in problems]})
    else:
        for problem in problems:
            print(terminal_text(str(problem)))
        if not problems:
            print(terminal_text(f"{where or 'built-in default configuration'}: {len(names)} "
                                f"resource(s) OK: {', '.join(names)}"))
    return EXIT_USAGE if problems else EXIT_OK
