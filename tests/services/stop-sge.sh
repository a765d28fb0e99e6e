#!/usr/bin/env bash
# stop-sge.sh - stop the Grid Engine cell started by start-sge.sh: sge_execd
# (and the jobs it runs), leftover sge_shepherd processes, then sge_qmaster.
# Daemons are found by executable path (/proc/PID/exe), never by name pattern.
# Packages, configuration, job ids and accounting are kept; start-sge.sh brings
# the same cell back.  Safe to run when nothing runs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
LIBEXEC=/usr/lib/gridengine
say() { echo "[stop-sge] $*"; }
[ "$(id -u)" = 0 ] || { say "ERROR: must run as root" >&2; exit 1; }

pids() {
    { find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$LIBEXEC/$1" 2>/dev/null || true; } |
        cut -d/ -f3
}
# wait_gone SECONDS PID...: true once none of the PIDs exists
wait_gone() {
    local n=$(($1 * 10)) p alive
    shift
    while [ "$n" -gt 0 ]; do
        alive=0
        for p in "$@"; do running "$p" && alive=1; done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
# halt NAME PID...: SIGTERM, then SIGKILL after 20 s
halt() {
    local name=$1 p
    shift
    [ "$#" -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    wait_gone 20 "$@" && return 0
    for p in "$@"; do
        say "$name (pid $p) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$p" 2>/dev/null || true
    done
}

mapfile -t qmaster < <(pids sge_qmaster)
mapfile -t execd < <(pids sge_execd)
[ "${#qmaster[@]}${#execd[@]}" != 00 ] || say "sge_qmaster and sge_execd are not running"

if [ "${#execd[@]}" -gt 0 ]; then
    say "stopping sge_execd (pid ${execd[*]}) and its jobs"
    # -kej: the execd kills its jobs, then exits; needs the qmaster
    [ "${#qmaster[@]}" = 0 ] || qconf -kej "$("$LIBEXEC/gethostname" -aname)" >/dev/null 2>&1 || true
    wait_gone 10 "${execd[@]}" || halt sge_execd "${execd[@]}"
fi
# shepherds (and their jobs) that outlived the execd; a job leads its own process group
for p in $(pids sge_shepherd); do
    say "stopping leftover sge_shepherd (pid $p) and its job"
    for c in $(children "$p"); do kill -TERM -- "-$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null || true; done
    kill -TERM "$p" 2>/dev/null || true
done
if [ "${#qmaster[@]}" -gt 0 ]; then
    # a controlled shutdown (BerkeleyDB spool) takes about 8 s
    say "stopping sge_qmaster (pid ${qmaster[*]})"
    halt sge_qmaster "${qmaster[@]}"
fi
say "stopped"
