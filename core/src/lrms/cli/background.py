"""``lrms agent status|start|stop|log``, and starting the agent for other commands."""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import sys
import time

from .. import agent
from ..engine import Engine
from ..store import ACTIVE
from .render import print_json, terminal_text
from .session import EXIT_FAILED, EXIT_OK, EXIT_RESOURCE, Session, error, note


def wanted(session: Session) -> bool:
    """True unless ``--no-agent``, ``$LRMS_NO_AGENT`` (any value but empty or 0) or the
    configuration's ``agent: {enabled: false}``."""
    if session.args.no_agent or os.environ.get("LRMS_NO_AGENT", "") not in ("", "0"):
        return False
    return bool(session.engine().config.agent["enabled"])


def ensure(session: Session, engine: Engine) -> agent.AgentInfo | None:
    """The store's running agent, started (or restarted after it died) if it is wanted
    and jobs are pending; None if not wanted or nothing is pending.  A failure to start
    it is a warning: the command then runs rounds itself.  (Retries are the waiting
    command's: ``lrms wait --retries`` resubmits, the agent submits.)"""
    if not wanted(session):
        return None
    found = agent.running(engine.store.path)
    if found is not None:
        mine = os.path.abspath(engine.config.path) if engine.config.path else None
        if found.pid and found.config != mine:
            session.warn(f"the agent of job store {engine.store.path} (pid {found.pid}) runs "
                         f"with the configuration {found.config or 'built-in'}, not "
                         f"{mine or 'built-in'}: 'lrms wait' and 'lrms status' with this "
                         "configuration run their own rounds")
            return None
        return found
    if not (engine.store.active_by_resource() or engine.store.counts().get("NEW")):
        return None
    try:
        return agent.start(engine.store.path, engine.config.path,
                           max_in_flight=engine.limit(""))
    except OSError as exc:
        session.warn(f"cannot start the agent: {exc}; this command runs rounds itself")
        return None


def _since(started: float) -> str:
    moment = datetime.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M:%S")
    return f"{moment} ({time.time() - started:.0f} s ago)"


def status(session: Session, args: argparse.Namespace) -> int:
    store = session.store
    found = agent.running(store.path)
    polls = store.polls()
    if args.json:
        print_json({
            "running": found is not None,
            "agent": None if found is None else {
                "pid": found.pid, "host": found.host, "started": found.started,
                "config": found.config, "log": found.log},
            "store": store.path, "log": agent.log_path(store.path),
            "jobs": store.counts(),
            "polls": {name: {"at": poll.at, "failures": poll.failures,
                             "retry_at": poll.retry_at or None, "error": poll.error}
                      for name, poll in polls.items()}})
        return EXIT_OK if found else EXIT_FAILED
    if found is None:
        print(f"no agent is running for job store {store.path}")
    else:
        print(f"agent running: pid {found.pid} on {found.host}, since {_since(found.started)}")
        print(f"  configuration: {found.config or 'built-in'}")
    print(f"  log: {agent.log_path(store.path)}")
    counts = store.counts()
    active = sum(counts.get(state.value, 0) for state in ACTIVE)
    print(f"  jobs: {counts.get('NEW', 0)} waiting to be submitted, {active} active, "
          f"{counts.get('TERMINATED', 0)} terminated")
    for name, poll in polls.items():
        line = f"  {terminal_text(name)}: last status query {time.time() - poll.at:.0f} s ago"
        if poll.failures:
            line += (f"; {poll.failures} failed in a row, next try in "
                     f"{max(0.0, poll.retry_at - time.time()):.0f} s: "
                     f"{terminal_text(poll.error or '')}")
        print(line)
    return EXIT_OK if found else EXIT_FAILED


def start(session: Session, args: argparse.Namespace) -> int:
    found = agent.running(session.store.path)
    if found is not None:
        note(f"agent already running: pid {found.pid} on {found.host}")
        return EXIT_OK
    engine = session.engine(max_in_flight=args.max_in_flight)  # starts it if jobs pend
    try:
        found = agent.running(engine.store.path) or agent.start(
            engine.store.path, engine.config.path, max_in_flight=args.max_in_flight)
    except OSError as exc:
        error(str(exc))
        return EXIT_RESOURCE
    note(f"agent started: pid {found.pid}; it exits when no job is active")
    return EXIT_OK


def stop(session: Session, args: argparse.Namespace) -> int:
    path = session.store.path
    try:
        found = agent.stop(path, timeout=args.timeout)
    except (TimeoutError, OSError) as exc:
        error(str(exc))
        return EXIT_RESOURCE
    if found is None:
        note(f"no agent is running for job store {path}")
    else:
        note(f"agent {found.pid} stopped; jobs keep running (the next 'lrms submit', "
             "'lrms wait' or 'lrms status' starts it again, unless --no-agent)")
    return EXIT_OK


def show_log(session: Session, args: argparse.Namespace) -> int:
    path = agent.log_path(session.store.path)
    try:
        with open(path, "rb") as log:
            for line in collections.deque(log, maxlen=args.lines):
                sys.stdout.write(terminal_text(line.decode("utf-8", "replace").rstrip("\n"))
                                 + "\n")
            sys.stdout.flush()
            while args.follow:
                line = log.readline()
                if not line:
                    time.sleep(0.2)
                    continue
                sys.stdout.write(terminal_text(line.decode("utf-8", "replace").rstrip("\n"))
                                 + "\n")
                sys.stdout.flush()
    except FileNotFoundError:
        note(f"no agent log yet for job store {session.store.path} ({path})")
    return EXIT_OK
