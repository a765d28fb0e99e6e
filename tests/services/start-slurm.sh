#!/usr/bin/env bash
# start-slurm.sh - single-node Slurm cluster (Debian 12 packages, Slurm 22.05)
# for the lrms integration tests.  Run as root; no systemd needed.
#
#   tests/services/start-slurm.sh                     munged, MariaDB, slurmdbd,
#                                                     slurmctld, slurmd (sacct works)
#   SLURM_ACCOUNTING=0 tests/services/start-slurm.sh  no MariaDB/slurmdbd
#
# Idempotent: installs missing packages, (re)writes the config, starts only the
# daemons that are not running (so it also restarts a slurmctld stopped with
# `stop-slurm.sh slurmctld`), then waits until the node is idle.
#
# Environment:
#   SLURM_ACCOUNTING=1|0   slurmdbd + MariaDB accounting (default 1)
#   SLURM_CLEAN=1          forget saved jobs first (job ids restart at 1)
#   SLURM_MIN_JOB_AGE=N    seconds a finished job stays in scontrol/squeue (3600)
#   SLURM_START_TIMEOUT=N  seconds to wait for each step (60)
#
# Files: /etc/slurm/slurm.conf (clients find it without SLURM_CONF),
#   /etc/slurm/slurmdbd.conf, logs in /var/log/slurm/, pid files in
#   /run/lrms-slurm/, state in /var/spool/slurmctld and /var/spool/slurmd,
#   /etc/slurm/gres.conf, /tmp/lrms-slurm.env (KEY=VALUE: LRMS_SLURM_PARTITION, _NODE,
#   _ACCOUNTING, _CONF, _GPUS, _FEATURES, _LICENSE, _MAX_ARRAY_SIZE, and with accounting
#   _ACCOUNT, _QOS).
# Partition "debug" on this host; the node has $GPUS GPUs (placeholder device files
# $RUN/gpuN, see gres.conf below), the features $FEATURES and the spare license
# $LICENSE; an array holds at most $MAX_ARRAY_SIZE tasks (MaxArraySize).  With
# accounting, the account $ACCOUNT and the QoS $QOS are open to root and lrmstest
# (associations are not enforced: a job without --account runs under the user's
# default account).  Stop with stop-slurm.sh.
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# One run at a time: test sessions run this concurrently, and two runs that both find
# no slurmctld start two, which share (and damage) the saved state before one dies.
# Daemons are started with the lock's descriptor closed, so they do not keep it held.
exec {start_lock}>/run/lrms-slurm-start.lock
flock "$start_lock"

ACCOUNTING=${SLURM_ACCOUNTING:-1}
CLEAN=${SLURM_CLEAN:-0}
MIN_JOB_AGE=${SLURM_MIN_JOB_AGE:-3600}
TIMEOUT=${SLURM_START_TIMEOUT:-60}
PARTITION=debug
CLUSTER=lrms
GPUS=2                  # gres/gpu count on the node
FEATURES=fast,ib        # node features, for --constraint
ACCOUNT=lrms-test       # an account and a QoS besides the defaults (root, normal)
QOS=lrms-high
ACCOUNT_USERS=root,lrmstest
LICENSE=lrms-reservable
MAX_ARRAY_SIZE=500      # small: tests make lrms split an array (the bench's 1,000 tasks: 2)

ETC=/etc/slurm
RUN=/run/lrms-slurm
LOGS=/var/log/slurm
CTLD_STATE=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
MUNGE_PID=/run/munge/munged.pid
DB_PID=/run/mysqld/mysqld.pid
DB_SOCK=/run/mysqld/mysqld.sock
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=lrms-slurm-test
ENV_FILE=/tmp/lrms-slurm.env

say() { echo "[start-slurm] $*"; }
tails() {  # tails FILE...: show the end of each non-empty log
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "---- last 25 lines of $f ----" >&2
        tail -n 25 "$f" >&2
    done
}
fail() {  # fail MESSAGE [LOG...]
    local msg=$1
    shift
    tails "$@"
    echo "[start-slurm] ERROR: $msg" >&2
    exit 1
}
trap 'echo "[start-slurm] ERROR: line $LINENO: $BASH_COMMAND failed" >&2' ERR

[ "$(id -u)" = 0 ] || fail "must run as root"

# alive PIDFILE NAME: the pid in PIDFILE runs a program whose name starts with NAME
alive() {
    local pid
    pid=$(tr -dc 0-9 2>/dev/null <"$1") || return 1
    [ -n "$pid" ] && running "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2"* ]]
}


# halt PIDFILE NAME: SIGTERM, up to 15 s, then SIGKILL
halt() {
    local pid
    alive "$1" "$2" || { rm -f "$1"; return 0; }
    pid=$(tr -dc 0-9 <"$1")
    say "stopping $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do running "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$1"
}

# until_ok SECONDS CMD...: poll CMD every 0.2 s
until_ok() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# serving SECONDS PIDFILE NAME CMD...: poll CMD until it succeeds; give up at
# once when the daemon NAME has exited (pid file stale, or none after 5 s)
serving() {
    local end=$((SECONDS + $1)) pidfile=$2 name=$3 t0=$SECONDS
    shift 3
    until "$@" >/dev/null 2>&1; do
        if ! alive "$pidfile" "$name" && { [ -s "$pidfile" ] || [ $((SECONDS - t0)) -ge 5 ]; }; then
            return 1
        fi
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}


# --- packages -------------------------------------------------------------------
pkgs=(munge slurmctld slurmd slurm-client)
[ "$ACCOUNTING" = 0 ] || pkgs+=(slurmdbd mariadb-server)
ensure_packages "${pkgs[@]}"
mkdir -p "$ETC" "$RUN" "$LOGS" "$CTLD_STATE" "$SLURMD_SPOOL"

# --- munge ------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mungekey --create --force --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
if ! alive "$MUNGE_PID" munged; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" </dev/null {start_lock}>&- >>"$LOGS/munged.out" 2>&1 ||
        fail "munged failed to start" /var/log/munge/munged.log "$LOGS/munged.out"
fi
until_ok 10 bash -c 'munge -n | unmunge' ||
    fail "munge credential round trip fails" /var/log/munge/munged.log

# --- slurm.conf -------------------------------------------------------------------
NODE=$(hostname -s)
# "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
HW=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* //p' | head -n 1) || HW=""
[ -n "$HW" ] || HW="CPUs=$(nproc) RealMemory=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
NCPU=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
if [ -z "$NCPU" ] || [ -z "$MEM" ]; then fail "cannot determine CPUs/RealMemory from '$HW'"; fi
DEF_MEM=$((MEM / NCPU < 1024 ? MEM / NCPU : 1024))
if [ "$ACCOUNTING" = 0 ]; then
    ACCT="AccountingStorageType=accounting_storage/none"
else
    ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
fi

NEW=$(mktemp)
trap 'rm -f "$NEW"' EXIT
cat >"$NEW" <<CONF
# Generated by tests/services/start-slurm.sh - single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
StateSaveLocation=$CTLD_STATE
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log

# No cgroups: plain process tracking.  Memory is enforced by sampling RSS every
# second: a step above its allocation is killed (job FAILED, ExitCode 0:9).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill

# Schedule at once on submit and on job end: without batch_sched_delay=0 and
# an Epilog (whose completion triggers a scheduling pass) batch jobs wait for
# a periodic pass, and hundreds of short jobs take minutes instead of seconds.
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
Epilog=$ETC/epilog-noop.sh
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM
# Refuse at submit time what the partition can never run.
EnforcePartLimits=ALL

MinJobAge=$MIN_JOB_AGE
# Finished jobs stay MinJobAge seconds, each array task as a job: room for the benches'
# thousands of short jobs (Slurm's default, 10000, fills up and sbatch then fails).
MaxJobCount=50000
# Array task indices 0..MaxArraySize-1 (Slurm's default is 1001).
MaxArraySize=$MAX_ARRAY_SIZE
KillWait=5
OverTimeLimit=0
InactiveLimit=0
Waittime=0

JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log
$ACCT

# GPUs as a generic resource (gres.conf: placeholder device files, see below): jobs
# get --gpus/--gres scheduling and accounting; no devices are bound.
GresTypes=gpu
AccountingStorageTRES=gres/gpu
# A license no job uses: tests make reservations of it (no nodes), which hold back no job.
Licenses=$LICENSE:1
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE $HW Gres=gpu:$GPUS Features=$FEATURES State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
# scontrol parses the whole file before doing anything; "show hostnames" needs
# no controller, so this catches a bad value before any daemon sees it.
out=$(SLURM_CONF=$NEW scontrol show hostnames "$NODE" 2>&1) ||
    { echo "$out" >&2; fail "generated slurm.conf does not parse"; }
# Slurm 22.05's slurmd drops a GPU without File= ("Removing file-less GPU") and
# wants character devices: each "GPU" is a node with /dev/null's numbers (1,3).
# Nothing is bound to them (task/none), so they are only names for CUDA_VISIBLE_DEVICES.
for ((i = 0; i < GPUS; i++)); do
    [ -c "$RUN/gpu$i" ] || mknod -m 666 "$RUN/gpu$i" c 1 3 || fail "cannot create $RUN/gpu$i"
done
GRES_CONF="# Generated by tests/services/start-slurm.sh
NodeName=$NODE Name=gpu File=$RUN/gpu[0-$((GPUS - 1))]"

printf '#!/bin/sh\nexit 0\n' >"$ETC/epilog-noop.sh"
chmod 755 "$ETC/epilog-noop.sh"
if ! cmp -s "$NEW" "$ETC/slurm.conf" || [ "$GRES_CONF" != "$(cat "$ETC/gres.conf" 2>/dev/null)" ] ||
    [ "$CLEAN" = 1 ]; then
    halt "$RUN/slurmd.pid" slurmd
    halt "$RUN/slurmctld.pid" slurmctld
    say "writing $ETC/slurm.conf and $ETC/gres.conf"
    printf '%s\n' "$GRES_CONF" >"$ETC/gres.conf"
    install -m 644 "$NEW" "$ETC/slurm.conf"
fi
if [ "$CLEAN" = 1 ]; then
    say "SLURM_CLEAN=1: removing saved controller and slurmd state"
    rm -rf "${CTLD_STATE:?}"/* "${SLURMD_SPOOL:?}"/* "$LOGS/jobcomp.log"
fi

# --- accounting: MariaDB + slurmdbd -----------------------------------------------------
if [ "$ACCOUNTING" != 0 ]; then
    install -d -o mysql -g mysql -m 755 /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
        say "initialising the MariaDB data directory"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOGS/mariadb.log" 2>&1 ||
            fail "mariadb-install-db failed" "$LOGS/mariadb.log"
    fi
    if ! alive "$DB_PID" mariadbd; then
        say "starting MariaDB"
        rm -f "$DB_PID"
        # setsid + redirected stdio: the server must not hold the caller's terminal or pipe.
        setsid /usr/sbin/mariadbd --user=mysql --pid-file="$DB_PID" --socket="$DB_SOCK" \
            --bind-address=127.0.0.1 --innodb-buffer-pool-size=256M \
            --innodb-flush-log-at-trx-commit=2 </dev/null {start_lock}>&- >>"$LOGS/mariadb.log" 2>&1 &
    fi
    until_ok "$TIMEOUT" mariadb-admin --socket="$DB_SOCK" ping ||
        fail "MariaDB does not answer" "$LOGS/mariadb.log"
    mariadb --socket="$DB_SOCK" -e "
        CREATE DATABASE IF NOT EXISTS $DB_NAME;
        CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';" ||
        fail "cannot create the accounting database" "$LOGS/mariadb.log"

    cat >"$NEW" <<CONF
# Generated by tests/services/start-slurm.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
CONF
    if ! cmp -s "$NEW" "$ETC/slurmdbd.conf"; then
        halt "$RUN/slurmdbd.pid" slurmdbd
        install -m 600 -o root -g root "$NEW" "$ETC/slurmdbd.conf"   # slurmdbd insists on 600
    fi
    if ! alive "$RUN/slurmdbd.pid" slurmdbd; then
        say "starting slurmdbd"
        slurmdbd </dev/null {start_lock}>&- >>"$LOGS/slurmdbd.out" 2>&1 ||
            fail "slurmdbd failed to start" "$LOGS/slurmdbd.log" "$LOGS/slurmdbd.out"
    fi
    serving "$TIMEOUT" "$RUN/slurmdbd.pid" slurmdbd sacctmgr -n list cluster ||
        fail "slurmdbd does not answer (sacctmgr list cluster)" "$LOGS/slurmdbd.log"
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null ||
            fail "sacctmgr add cluster $CLUSTER failed" "$LOGS/slurmdbd.log"
    fi
    # The test account and QoS, each added only if missing (sacctmgr fails on a
    # duplicate).  The users get the QoS besides their default (normal).
    if ! sacctmgr -n -P list qos format=name | grep -qx "$QOS"; then
        sacctmgr -i add qos "$QOS" Priority=10 >/dev/null ||
            fail "sacctmgr add qos $QOS failed" "$LOGS/slurmdbd.log"
    fi
    if ! sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT"; then
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" \
            Description="lrms tests" Organization=lrms >/dev/null ||
            fail "sacctmgr add account $ACCOUNT failed" "$LOGS/slurmdbd.log"
    fi
    # associated USER: USER has the account with the QoS
    associated() {
        sacctmgr -n -P list assoc account="$ACCOUNT" user="$1" format=qos | grep -q "$QOS"
    }
    for user in ${ACCOUNT_USERS//,/ }; do
        associated "$user" && continue
        # "add" fails for a user already in the account: the check below decides
        sacctmgr -i add user "$user" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null 2>&1 || true
        sacctmgr -i modify user "$user" where account="$ACCOUNT" set QOS=normal,"$QOS" \
            >/dev/null 2>&1 || true
        associated "$user" ||
            fail "cannot give $user the account $ACCOUNT with QoS $QOS" "$LOGS/slurmdbd.log"
    done
else
    halt "$RUN/slurmdbd.pid" slurmdbd
fi

# --- slurmctld + slurmd ------------------------------------------------------------------
ctld_started=0
if ! alive "$RUN/slurmctld.pid" slurmctld; then
    ctld_started=1
    say "starting slurmctld"
    rm -f "$RUN/slurmctld.pid"
    # -i: start even if a saved state file is unreadable
    slurmctld -i </dev/null {start_lock}>&- >>"$LOGS/slurmctld.out" 2>&1 ||
        fail "slurmctld failed to start" "$LOGS/slurmctld.log" "$LOGS/slurmctld.out"
fi
serving "$TIMEOUT" "$RUN/slurmctld.pid" slurmctld scontrol ping || fail "slurmctld does not answer (scontrol ping)" "$LOGS/slurmctld.log"

if alive "$RUN/slurmd.pid" slurmd; then
    # A running slurmd re-registers with a restarted controller only at the next
    # node ping (~5 s, node state "unknown" meanwhile); SIGHUP (reconfigure,
    # jobs keep running) makes it register at once.
    [ "$ctld_started" = 0 ] || kill -HUP "$(tr -dc 0-9 <"$RUN/slurmd.pid")"
else
    say "starting slurmd"
    rm -f "$RUN/slurmd.pid"
    slurmd </dev/null {start_lock}>&- >>"$LOGS/slurmd.out" 2>&1 ||
        fail "slurmd failed to start" "$LOGS/slurmd.log" "$LOGS/slurmd.out"
fi
until_ok 15 alive "$RUN/slurmd.pid" slurmd || fail "slurmd is not running" "$LOGS/slurmd.log" "$LOGS/slurmd.out"

# --- wait for the node -----------------------------------------------------------------
end=$((SECONDS + TIMEOUT))
resumed=0
while :; do
    state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | fail*)
            if [ "$resumed" = 0 ]; then
                say "node is $state ($(sinfo -h -N -n "$NODE" -o %E)); resuming it"
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi
            ;;
    esac
    alive "$RUN/slurmd.pid" slurmd || fail "slurmd exited" "$LOGS/slurmd.log"
    if [ "$SECONDS" -ge "$end" ]; then
        sinfo -N -l >&2 || true
        fail "node $NODE not usable after ${TIMEOUT}s (state '${state:-?}')" "$LOGS/slurmctld.log" "$LOGS/slurmd.log"
    fi
    sleep 0.2
done

cat >"$ENV_FILE.tmp" <<ENV
LRMS_SLURM_PARTITION=$PARTITION
LRMS_SLURM_NODE=$NODE
LRMS_SLURM_ACCOUNTING=$ACCOUNTING
LRMS_SLURM_CONF=$ETC/slurm.conf
LRMS_SLURM_GPUS=$GPUS
LRMS_SLURM_FEATURES=$FEATURES
LRMS_SLURM_LICENSE=$LICENSE
LRMS_SLURM_MAX_ARRAY_SIZE=$MAX_ARRAY_SIZE
ENV
[ "$ACCOUNTING" = 0 ] || printf 'LRMS_SLURM_ACCOUNT=%s\nLRMS_SLURM_QOS=%s\n' "$ACCOUNT" "$QOS" >>"$ENV_FILE.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
say "cluster up: partition $PARTITION, node $NODE ($state, $NCPU CPUs, ${MEM} MB, gpu:$GPUS), accounting=$ACCOUNTING"
