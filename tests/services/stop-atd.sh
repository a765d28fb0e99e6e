#!/usr/bin/env bash
# stop-atd.sh - stop the at daemon started by start-atd.sh (SIGTERM, SIGKILL
# after 10 s).  atd is found by executable path (/proc/PID/exe), never by name
# pattern.  Jobs already running go on to their end; queued jobs stay in
# /var/spool/cron/atjobs and run when start-atd.sh brings atd back.  Safe to
# run when atd is not running.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ATD=/usr/sbin/atd
say() { echo "[stop-atd] $*"; }
[ "$(id -u)" = 0 ] || { say "ERROR: must run as root" >&2; exit 1; }

# the daemons: atd processes whose parent is not atd (atd forks one child per running job)
stopped=0
for exe in $(find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$ATD" 2>/dev/null || true); do
    p=${exe#/proc/}
    p=${p%/exe}
    running "$p" || continue
    parent=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || continue
    [ "$(readlink "/proc/$parent/exe" 2>/dev/null)" != "$ATD" ] || continue
    say "stopping atd (pid $p)"
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do running "$p" || break; sleep 0.1; done
    if running "$p"; then
        say "atd (pid $p) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$p" 2>/dev/null || true
    fi
    stopped=1
done
[ "$stopped" = 1 ] || say "atd is not running"
