#!/usr/bin/env bash
# start-atd.sh - the at daemon (Debian 12's `at` 3.2.5) for the tests of the
# example backend examples/lrms-at.  Run as root; no systemd needed.
#
#   tests/services/start-atd.sh
#
# Installs `at` if it is missing and runs /usr/sbin/atd as root with
#   -l $LRMS_ATD_LOAD_LIMIT (100): start batch jobs whatever the load average
#      (atd's default limit, 1.5, holds them back on a busy test machine)
#   -b 0: no pause between the starts of two batch jobs (default 60 s)
#   -d: error messages to the log file /tmp/lrms-atd.log instead of syslog
# An atd that runs with other options (the package's own service, say) is
# restarted with these.  Root must be allowed to use at: the script adds it to
# /etc/at.allow when that file exists, and takes it out of /etc/at.deny.
# Idempotent: when atd already runs as wanted, it only checks it.  After
# starting atd it runs a smoke-test batch job.
#
# Writes the env file $LRMS_ATD_ENV (default /tmp/lrms-atd.env):
#   LRMS_ATD_PID, LRMS_ATD_LOAD_LIMIT, LRMS_ATD_LOG
# Environment: LRMS_ATD_ENV, LRMS_ATD_LOAD_LIMIT (100), ATD_START_TIMEOUT (20 s per wait).
# Stop with stop-atd.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENV_FILE=${LRMS_ATD_ENV:-/tmp/lrms-atd.env}
LOAD_LIMIT=${LRMS_ATD_LOAD_LIMIT:-100}
TIMEOUT=${ATD_START_TIMEOUT:-20}
ATD=/usr/sbin/atd
LOG=/tmp/lrms-atd.log
ARGS=(-d -l "$LOAD_LIMIT" -b 0)
WANTED="$ATD ${ARGS[*]}"   # as /proc/PID/cmdline shows it

say() { echo "[start-atd] $*"; }
fail() {
    echo "[start-atd] ERROR: $*" >&2
    if [ -s "$LOG" ]; then
        echo "---- last 15 lines of $LOG ----" >&2
        tail -n 15 "$LOG" >&2
    fi
    exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root"

# daemons: atd processes whose parent is not atd (atd forks one child per running job)
daemons() {
    local exe p parent
    for exe in $(find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$ATD" 2>/dev/null || true); do
        p=${exe#/proc/}
        p=${p%/exe}
        running "$p" || continue
        parent=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || continue
        [ "$(readlink "/proc/$parent/exe" 2>/dev/null)" = "$ATD" ] || echo "$p"
    done
}
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ $//'; }

# --- package and permissions -------------------------------------------------------------
ensure_packages at
if [ -e /etc/at.allow ] && ! grep -qx root /etc/at.allow; then
    say "adding root to /etc/at.allow"
    echo root >>/etc/at.allow
fi
if [ -e /etc/at.deny ] && grep -qx root /etc/at.deny; then
    say "removing root from /etc/at.deny"
    sed -i '/^root$/d' /etc/at.deny
fi

# --- atd ---------------------------------------------------------------------------------
started=0
for p in $(daemons); do
    [ "$(cmdline "$p")" != "$WANTED" ] || continue
    say "restarting atd (pid $p, running as '$(cmdline "$p")')"
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do running "$p" || break; sleep 0.1; done
    running "$p" && fail "atd (pid $p) did not stop within 10 s"
done
mapfile -t pids < <(daemons)
if [ "${#pids[@]}" = 0 ]; then
    say "starting $WANTED"
    # atd -d stays in the foreground: detach it, its output to the log only
    setsid "$ATD" "${ARGS[@]}" </dev/null >>"$LOG" 2>&1 &
    end=$((SECONDS + TIMEOUT))
    until [ "$(daemons)" ]; do
        [ "$SECONDS" -lt "$end" ] || fail "atd did not start within ${TIMEOUT}s"
        sleep 0.1
    done
    started=1
    mapfile -t pids < <(daemons)
fi
[ "${#pids[@]}" = 1 ] || fail "more than one atd runs: pids ${pids[*]}"

# --- smoke test after a start --------------------------------------------------------------
if [ "$started" = 1 ]; then
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    (cd "$TMP" && echo 'echo ok > done' | batch >"$TMP/batch.out" 2>&1) ||
        { cat "$TMP/batch.out" >&2; fail "batch refused the smoke-test job"; }
    end=$((SECONDS + TIMEOUT))
    until [ -s "$TMP/done" ]; do
        if [ "$SECONDS" -ge "$end" ]; then
            atq >&2 || true
            fail "the smoke-test batch job did not run within ${TIMEOUT}s ($(cat "$TMP/batch.out"))"
        fi
        sleep 0.1
    done
fi

cat >"$ENV_FILE.tmp" <<ENV
LRMS_ATD_PID=${pids[0]}
LRMS_ATD_LOAD_LIMIT=$LOAD_LIMIT
LRMS_ATD_LOG=$LOG
ENV
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
say "atd up (pid ${pids[0]}): batch jobs start at once below load $LOAD_LIMIT"
