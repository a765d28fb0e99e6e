#!/usr/bin/env bash
# stop-sshd.sh - stop the test sshd started by start-sshd.sh (found by its pid
# file), together with its open sessions.  Keys, known_hosts and the lrmstest
# user are kept, so the next start reuses the same host key.  Exits 0 when
# nothing runs.  Environment: LRMS_SSHD_DIR (/tmp/lrms-sshd).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=${LRMS_SSHD_DIR:-/tmp/lrms-sshd}
say() { echo "[stop-sshd] $*"; }

pid=$(cat "$DIR/sshd.pid" 2>/dev/null || true)
if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
    say "not running (no pid file in $DIR)"
    exit 0
fi
DIR=$(cd "$DIR" && pwd -P)
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $DIR/sshd_config "; then
    say "not running (stale pid file, pid $pid)"
    rm -f "$DIR/sshd.pid"
    exit 0
fi
# per-connection sshd processes are children of the listener
mapfile -t sessions < <(children "$pid")
kill -TERM "$pid" "${sessions[@]}" 2>/dev/null || true
for _ in $(seq 50); do
    running "$pid" || break
    sleep 0.1
done
if running "$pid"; then
    say "sshd (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$DIR/sshd.pid"
say "stopped sshd (pid $pid)"
