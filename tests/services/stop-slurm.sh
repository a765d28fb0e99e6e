#!/usr/bin/env bash
# stop-slurm.sh - stop daemons started by start-slurm.sh, found by their pid files.
#
#   tests/services/stop-slurm.sh             cancel remaining jobs, then stop slurmd,
#                                            slurmctld, slurmdbd, MariaDB and munged
#   tests/services/stop-slurm.sh slurmctld   stop only the named daemon(s); any of
#                                            slurmd slurmctld slurmdbd mariadb munged
#                                            (start-slurm.sh starts them again)
#
# Packages, configuration, saved jobs and the accounting database are kept.
# Safe to run when nothing is running.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The lock start-slurm.sh takes: a stop never races a start.
exec {start_lock}>/run/lrms-slurm-start.lock
flock "$start_lock"

RUN=/run/lrms-slurm
declare -A PIDFILE=(
    [slurmd]=$RUN/slurmd.pid [slurmctld]=$RUN/slurmctld.pid [slurmdbd]=$RUN/slurmdbd.pid
    [mariadb]=/run/mysqld/mysqld.pid [munged]=/run/munge/munged.pid
)
declare -A COMM=([slurmd]=slurmd [slurmctld]=slurmctld [slurmdbd]=slurmdbd [mariadb]=mariadbd [munged]=munged)

say() { echo "[stop-slurm] $*"; }
[ "$(id -u)" = 0 ] || { say "ERROR: must run as root" >&2; exit 1; }


# stop NAME...: SIGTERM each daemon that runs, wait up to 20 s, then SIGKILL
stop() {
    local name pid i pids=()
    for name in "$@"; do
        pid=$(tr -dc 0-9 2>/dev/null <"${PIDFILE[$name]}") || pid=""
        if [ -n "$pid" ] && running "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "${COMM[$name]}"* ]]; then
            say "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        fi
        rm -f "${PIDFILE[$name]}"   # stale, or about to be
    done
    for _ in $(seq 200); do
        for i in "${!pids[@]}"; do running "${pids[$i]}" || unset "pids[$i]"; done
        [ "${#pids[@]}" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        say "pid $pid ignored SIGTERM for 20 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

if [ "$#" -gt 0 ]; then
    for name in "$@"; do
        [ -n "${PIDFILE[$name]:-}" ] || { say "ERROR: unknown daemon '$name' (one of: ${!PIDFILE[*]})" >&2; exit 2; }
    done
    stop "$@"
    exit 0
fi

# Cancel jobs first so that no job process outlives slurmd.
if scontrol ping >/dev/null 2>&1; then
    mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
    if [ "${#jobs[@]}" -gt 0 ]; then
        say "cancelling jobs: ${jobs[*]}"
        scancel "${jobs[@]}" 2>/dev/null || true
        for _ in $(seq 100); do
            [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
fi
stop slurmd slurmctld slurmdbd
stop mariadb munged
say "stopped"
