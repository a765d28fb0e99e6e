#!/usr/bin/env bash
# start-sge.sh - single-node Grid Engine cell (Debian 12 gridengine 8.1.9
# packages) for the lrms integration tests.  Run as root; no systemd needed.
#
#   tests/services/start-sge.sh
#
# Sets up and starts sge_qmaster + sge_execd on this host with:
#   * queue all.q (one slot per CPU, no load thresholds, shell_start_mode
#     unix_behavior so a job script's #! line is honoured)
#   * parallel environment smp (allocation_rule $pe_slots): qsub -pe smp N
#   * consumable complexes for the job template: gpu (INT, consumable JOB: a
#     request counts once per job, not per slot) and exclusive (BOOL, relop EXCL:
#     a job asking exclusive=true has the host to itself); the exec host offers
#     gpu=$LRMS_SGE_GPUS (default 2; no real devices) and exclusive=true
#   * min_uid/min_gid 0 (root may run jobs), accounting flushed at once (qacct
#     works as soon as a job ends), scheduler run every second and 1 s after
#     each submit / job end
#   * max_aj_tasks 100 (Grid Engine's default is 75000): tests can make lrms split
#     a job array in two with 101 tasks
#   * $SGE_ROOT/$SGE_CELL/common/host_aliases mapping the names this host's
#     addresses reverse-resolve to (e.g. "localhost" for 127.0.0.1) onto the
#     host name; without it clients get "access denied (client IP resolved to
#     host name "localhost". This is not identical to clients host name ...)"
# Idempotent: when both daemons already run it only re-applies the
# configuration; after starting a daemon it runs a smoke-test job (qsub + qacct).
#
# Writes the sourceable env file $LRMS_SGE_ENV (default /tmp/lrms-sge.env):
#   SGE_ROOT=/var/lib/gridengine  SGE_CELL=default  (Debian's fixed layout;
#   the Debian client tools find the cell without them, other tools may not)
#   LRMS_SGE_HOST, LRMS_SGE_QUEUE=all.q, LRMS_SGE_PE=smp, LRMS_SGE_SLOTS,
#   LRMS_SGE_GPUS (the exec host's gpu capacity), LRMS_SGE_MAX_ARRAY_SIZE (max_aj_tasks)
# Use it with:  set -a; . /tmp/lrms-sge.env; set +a
#
# Environment: LRMS_SGE_ENV (/tmp/lrms-sge.env), SGE_START_TIMEOUT (60 s per step).
# Logs: /var/spool/gridengine/qmaster/messages,
#       /var/spool/gridengine/execd/<host>/messages, /tmp/lrms-apt.log.
# Stop with stop-sge.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENV_FILE=${LRMS_SGE_ENV:-/tmp/lrms-sge.env}
TIMEOUT=${SGE_START_TIMEOUT:-60}
QUEUE=all.q
PE=smp
SLOTS=$(nproc)
GPUS=${LRMS_SGE_GPUS:-2}
MAX_ARRAY_SIZE=100
export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=default
COMMON=$SGE_ROOT/$SGE_CELL/common
LIBEXEC=/usr/lib/gridengine
SPOOL=/var/spool/gridengine
PKGS=(gridengine-master gridengine-exec gridengine-client)

say() { echo "[start-sge] $*"; }
fail() {
    local f
    echo "[start-sge] ERROR: $*" >&2
    for f in "$SPOOL"/qmaster/messages "$SPOOL"/execd/*/messages /tmp/qmaster_messages* /tmp/execd_messages*; do
        [ -s "$f" ] || continue
        echo "---- last 15 lines of $f ----" >&2
        tail -n 15 "$f" >&2
    done
    exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# pids EXE: processes running $LIBEXEC/EXE (by /proc/PID/exe, not by name)
pids() {
    { find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$LIBEXEC/$1" 2>/dev/null || true; } |
        cut -d/ -f3
}
# quiet CMD...: show CMD's output only when it fails
quiet() { "$@" >"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; return 1; }; }
halt() {  # halt NAME: SIGTERM the daemon, SIGKILL after 15 s
    local p
    for p in $(pids "$1"); do
        say "stopping $1 (pid $p)"
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 150); do running "$p" || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
}

# --- host name -----------------------------------------------------------------------
HOST=$(hostname)
if ! getent hosts "$HOST" >/dev/null; then
    say "host name $HOST does not resolve; adding it to /etc/hosts as 127.0.0.1"
    echo "127.0.0.1 $HOST" >>/etc/hosts
fi

# --- packages ------------------------------------------------------------------------
# debconf answers (used only when the packages get installed): configure cell
# "default" with this host as master, so gridengine-master's postinst creates
# the spool database.
debconf-set-selections <<DEBCONF
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string default
gridengine-common shared/gridenginemaster string $HOST
DEBCONF
ensure_packages "${PKGS[@]}"
id sgeadmin >/dev/null 2>&1 || fail "user sgeadmin missing (gridengine-common postinst failed?)"

# --- host_aliases ------------------------------------------------------------------------
# One line: the host name followed by every other name its addresses reverse-resolve to.
canon=$("$LIBEXEC/gethostname" -name 2>/dev/null || echo "$HOST")
aliases=""
for ip in $(getent ahostsv4 "$HOST" | awk '{print $1}' | sort -u); do
    name=$("$LIBEXEC/gethostbyaddr" -name "$ip" 2>/dev/null || true)
    if [ -n "$name" ] && [ "$name" != "$canon" ] && [[ " $aliases " != *" $name "* ]]; then
        aliases="$aliases $name"
    fi
done
names_changed=0
if [ -n "$aliases" ]; then
    echo "$canon$aliases" >"$TMP/host_aliases"
    if ! cmp -s "$TMP/host_aliases" "$COMMON/host_aliases"; then
        say "writing $COMMON/host_aliases: $canon$aliases"
        install -m 644 "$TMP/host_aliases" "$COMMON/host_aliases"
        names_changed=1
    fi
elif [ -e "$COMMON/host_aliases" ]; then
    rm -f "$COMMON/host_aliases"
    names_changed=1
fi

# --- cluster database (normally made by gridengine-master's postinst) --------------------
conf_value() { awk -v k="$1" '$1 == k {print $2}' "$COMMON/bootstrap"; }
SPOOLDB=$(conf_value spooling_params)
QMASTER_SPOOL=$(conf_value qmaster_spool_dir)
[ -n "$SPOOLDB" ] || fail "no spooling_params in $COMMON/bootstrap"
if [ ! -e "$SPOOLDB/sge" ]; then
    say "creating the cluster database in $SPOOLDB"
    install -d -o sgeadmin -g sgeadmin "$SPOOLDB" "$QMASTER_SPOOL" "$QMASTER_SPOOL/job_scripts" "$SPOOL/execd"
    runuser -u sgeadmin -- /usr/share/gridengine/scripts/init_cluster \
        "$SGE_ROOT" "$SGE_CELL" "$SPOOLDB" sgeadmin >"$TMP/init" 2>&1 ||
        { cat "$TMP/init" >&2; fail "init_cluster failed"; }
fi

# The SGE name of this host must be the same however it is looked up.
SGE_HOST=$("$LIBEXEC/gethostname" -aname) || fail "$LIBEXEC/gethostname failed"
for ip in $(getent ahostsv4 "$HOST" | awk '{print $1}' | sort -u); do
    n=$("$LIBEXEC/gethostbyaddr" -aname "$ip" 2>/dev/null || true)
    [ "$n" = "$SGE_HOST" ] ||
        fail "$ip resolves to SGE host '$n', not '$SGE_HOST'; fix /etc/hosts or $COMMON/host_aliases"
done
if [ "$(cat "$COMMON/act_qmaster" 2>/dev/null)" != "$SGE_HOST" ]; then
    say "setting act_qmaster to $SGE_HOST"
    echo "$SGE_HOST" >"$COMMON/act_qmaster"
    chown sgeadmin:sgeadmin "$COMMON/act_qmaster"
    names_changed=1
fi

# --- qmaster ------------------------------------------------------------------------------
started=0
install -d -o sgeadmin -g sgeadmin /run/gridengine
if [ "$names_changed" = 1 ]; then   # daemons cache host names: restart them
    halt sge_execd
    halt sge_qmaster
fi
if [ -z "$(pids sge_qmaster)" ]; then
    say "starting sge_qmaster"
    # it daemonizes itself; its stdio must not hold the caller's pipe
    /usr/sbin/sge_qmaster </dev/null >>"$TMP/qmaster.out" 2>&1 ||
        { cat "$TMP/qmaster.out" >&2; fail "sge_qmaster failed to start"; }
    started=1
fi
end=$((SECONDS + TIMEOUT))
until qconf -sh >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || { qconf -sh >&2 || true; fail "sge_qmaster does not answer after ${TIMEOUT}s"; }
    sleep 0.25
done

# --- configuration ---------------------------------------------------------------------------
listed() { "$@" 2>/dev/null | grep -qx "$SGE_HOST"; }
listed qconf -sh || quiet qconf -ah "$SGE_HOST" || fail "qconf -ah failed"
listed qconf -ss || quiet qconf -as "$SGE_HOST" || fail "qconf -as failed"

# complexes: name shortcut type relop requestable consumable default urgency
qconf -sc >"$TMP/complexes" || fail "qconf -sc failed"
cp "$TMP/complexes" "$TMP/complexes.old"
for line in "gpu gpu INT <= YES JOB 0 0" "exclusive excl BOOL EXCL YES YES 0 1000"; do
    awk -v n="${line%% *}" '$1 != n' "$TMP/complexes" >"$TMP/complexes.new"
    echo "$line" >>"$TMP/complexes.new"
    mv "$TMP/complexes.new" "$TMP/complexes"
done
diff -qw <(grep -v '^#' "$TMP/complexes.old" | tr -s ' ' | sort) \
    <(grep -v '^#' "$TMP/complexes" | tr -s ' ' | sort) >/dev/null ||
    quiet qconf -Mc "$TMP/complexes" || fail "qconf -Mc failed"

if ! listed qconf -sel; then
    printf '%s\n' "hostname $SGE_HOST" "load_scaling NONE" "complex_values NONE" \
        "user_lists NONE" "xuser_lists NONE" "projects NONE" "xprojects NONE" \
        "usage_scaling NONE" "report_variables NONE" >"$TMP/exechost"
    quiet qconf -Ae "$TMP/exechost" || fail "qconf -Ae failed"
fi
HOST_COMPLEXES="exclusive=TRUE,gpu=$GPUS"
live=$(qconf -se "$SGE_HOST" | awk '$1 == "complex_values" {print $2}')
[ "$live" = "$HOST_COMPLEXES" ] ||
    quiet qconf -rattr exechost complex_values "$HOST_COMPLEXES" "$SGE_HOST" ||
    fail "qconf -rattr exechost complex_values failed"

# set KEY=VALUE... in the SGE config dump $1 (replacing "\"-continued values)
set_keys() {
    local file=$1 kv
    shift
    for kv in "$@"; do
        awk -v k="${kv%%=*}" -v v="${kv#*=}" '
            skip { skip = /\\$/; next }
            $1 == k { found = 1; print k, v; skip = /\\$/; next }
            { print }
            END { if (!found) print k, v }' "$file" >"$file.new"
        mv "$file.new" "$file"
    done
}
# apply FILE SHOW-CMD... MODIFY-FLAG: load FILE only if it differs from the live config
apply() {
    local file=$1 flag=$2
    shift 2
    "$@" >"$TMP/live" 2>/dev/null || true
    if ! diff -qw <(tr -s ' ' <"$TMP/live") <(tr -s ' ' <"$file") >/dev/null; then
        quiet qconf "$flag" "$file" || fail "qconf $flag $file failed"
    fi
}

mkdir -p "$TMP/conf"   # qconf -Mconf takes the configuration name from the file name
qconf -sconf global >"$TMP/conf/global" || fail "qconf -sconf failed"
cp "$TMP/conf/global" "$TMP/global.old"
set_keys "$TMP/conf/global" min_uid=0 min_gid=0 load_report_time=00:00:05 \
    max_aj_tasks=$MAX_ARRAY_SIZE \
    "reporting_params=accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00"
if ! diff -qw "$TMP/global.old" "$TMP/conf/global" >/dev/null; then
    (cd "$TMP/conf" && quiet qconf -Mconf global) || fail "qconf -Mconf global failed"
fi

qconf -ssconf >"$TMP/sconf" || fail "qconf -ssconf failed"
cp "$TMP/sconf" "$TMP/sconf.old"
set_keys "$TMP/sconf" schedule_interval=0:0:1 flush_submit_sec=1 flush_finish_sec=1 \
    job_load_adjustments=NONE load_adjustment_decay_time=0:0:0
diff -qw "$TMP/sconf.old" "$TMP/sconf" >/dev/null || quiet qconf -Msconf "$TMP/sconf" ||
    fail "qconf -Msconf failed"

cat >"$TMP/pe" <<PEDEF
pe_name            $PE
slots              99999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     TRUE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
PEDEF
if qconf -sp "$PE" >/dev/null 2>&1; then
    apply "$TMP/pe" -Mp qconf -sp "$PE"
else
    quiet qconf -Ap "$TMP/pe" || fail "qconf -Ap $PE failed"
fi

{
    printf '%-21s %s\n' qname "$QUEUE" hostlist "$SGE_HOST" seq_no 0 load_thresholds NONE \
        suspend_thresholds NONE nsuspend 1 suspend_interval 00:05:00 priority 0 \
        min_cpu_interval 00:05:00 processors UNDEFINED qtype "BATCH INTERACTIVE" \
        ckpt_list NONE pe_list "$PE" rerun FALSE slots "$SLOTS" tmpdir /tmp shell /bin/sh \
        prolog NONE epilog NONE shell_start_mode unix_behavior starter_method NONE \
        suspend_method NONE resume_method NONE terminate_method NONE notify 00:00:60 \
        owner_list NONE user_lists NONE xuser_lists NONE subordinate_list NONE \
        complex_values NONE projects NONE xprojects NONE calendar NONE initial_state default
    for limit in rt cpu fsize data stack core rss vmem; do
        printf '%-21s %s\n' "s_$limit" INFINITY "h_$limit" INFINITY
    done
} >"$TMP/queue"
if qconf -sq "$QUEUE" >/dev/null 2>&1; then
    apply "$TMP/queue" -Mq qconf -sq "$QUEUE"
else
    quiet qconf -Aq "$TMP/queue" || fail "qconf -Aq $QUEUE failed"
fi

# --- execd ---------------------------------------------------------------------------------------
if [ -z "$(pids sge_execd)" ]; then
    say "starting sge_execd"
    /usr/sbin/sge_execd </dev/null >>"$TMP/execd.out" 2>&1 ||
        { cat "$TMP/execd.out" >&2; fail "sge_execd failed to start"; }
    started=1
fi
# clear a disabled or error state left over from an earlier run
qmod -e "$QUEUE@$SGE_HOST" >/dev/null 2>&1 || true
qmod -c "$QUEUE@$SGE_HOST" >/dev/null 2>&1 || true
# the queue instance is usable when `qstat -f` shows no state letters for it
qi_state() {
    qstat -f -q "$QUEUE@$SGE_HOST" 2>/dev/null |
        awk -v q="$QUEUE@$SGE_HOST" '$1 == q {print ($6 == "" ? "ok" : $6)}'
}
end=$((SECONDS + TIMEOUT))
until [ "$(qi_state)" = ok ]; do
    if [ "$SECONDS" -ge "$end" ]; then
        qstat -f -explain aAcE >&2 || true
        fail "queue instance $QUEUE@$SGE_HOST not usable after ${TIMEOUT}s (state '$(qi_state)')"
    fi
    sleep 0.25
done

# --- smoke test after a (re)start ----------------------------------------------------------------
if [ "$started" = 1 ]; then
    jid=$(cd /tmp && qsub -terse -b y -N lrms_smoke -o /dev/null -e /dev/null /bin/true) ||
        fail "qsub of the smoke-test job failed"
    end=$((SECONDS + TIMEOUT))
    until qacct -j "$jid" >"$TMP/acct" 2>/dev/null; do
        if [ "$SECONDS" -ge "$end" ]; then
            qstat -j "$jid" >&2 || true
            qdel -f "$jid" >/dev/null 2>&1 || true
            fail "smoke-test job $jid did not finish within ${TIMEOUT}s"
        fi
        sleep 0.2
    done
    [ "$(awk '$1 == "failed" || $1 == "exit_status" {printf "%s ", $2}' "$TMP/acct")" = "0 0 " ] ||
        { cat "$TMP/acct" >&2; fail "smoke-test job $jid failed"; }
fi

cat >"$ENV_FILE.tmp" <<ENV
SGE_ROOT=$SGE_ROOT
SGE_CELL=$SGE_CELL
LRMS_SGE_HOST=$SGE_HOST
LRMS_SGE_QUEUE=$QUEUE
LRMS_SGE_PE=$PE
LRMS_SGE_SLOTS=$SLOTS
LRMS_SGE_GPUS=$GPUS
LRMS_SGE_MAX_ARRAY_SIZE=$MAX_ARRAY_SIZE
ENV
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
say "cell up: $QUEUE@$SGE_HOST ($SLOTS slots, gpu=$GPUS), pe $PE"
say "environment: set -a; . $ENV_FILE; set +a   (SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL)"
