#!/usr/bin/env bash
# start-sshd.sh - throw-away OpenSSH server on loopback for the SSH transport tests.
#
# Usage (as root):  tests/services/start-sshd.sh
#
# Listens on 127.0.0.1:$LRMS_SSHD_PORT and keeps everything in $LRMS_SSHD_DIR:
#   ssh_host_ed25519_key[.pub]  host key (generated once, reused across restarts)
#   id_ed25519[.pub]            client key, no passphrase
#   id_ed25519_pass[.pub]       client key, passphrase "secret-pass"
#   known_hosts                 "[127.0.0.1]:PORT ssh-ed25519 ..." for the host key
#   authorized_keys/<user>      AuthorizedKeysFile: lrmstest (both keys), root (id_ed25519)
#   sshd_config, sshd.pid, sshd.log
#   env                         KEY=VALUE lines (LRMS_SSHD_*), e.g. `set -a; . DIR/env; set +a`
#
# Logins: user "lrmstest" (default; created with useradd -m if missing) and root,
# public key only.  Idempotent: when our sshd already runs with the same config
# this only re-checks the login.  Stop with stop-sshd.sh.
#
# Environment:
#   LRMS_SSHD_PORT     (2222)
#   LRMS_SSHD_DIR      (/tmp/lrms-sshd)
#   LRMS_SSHD_TIMEOUT  (20)   seconds to wait for a working login
set -euo pipefail

PORT=${LRMS_SSHD_PORT:-2222}
DIR=${LRMS_SSHD_DIR:-/tmp/lrms-sshd}
TIMEOUT=${LRMS_SSHD_TIMEOUT:-20}
HOST=127.0.0.1
TEST_USER=lrmstest
PASSPHRASE=secret-pass
SSHD=/usr/sbin/sshd

say() { echo "[start-sshd] $*"; }
fail() {
    echo "[start-sshd] ERROR: $*" >&2
    if [ -s "$DIR/sshd.log" ]; then
        echo "---- last 20 lines of $DIR/sshd.log ----" >&2
        tail -n 20 "$DIR/sshd.log" >&2
    fi
    exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (creates user $TEST_USER, runs sshd with privilege separation)"

# running PID: the process exists and is not a zombie (an init that reaps
# slowly leaves exited daemons as zombies, which `kill -0` still reports)
running() {
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ]
}

# put FILE: write stdin to FILE atomically, and only if it changed (tests may be
# reading known_hosts or env while this script runs again)
put() {
    cat >"$1.$$"
    if cmp -s "$1.$$" "$1"; then rm -f "$1.$$"; else mv -f "$1.$$" "$1"; fi
}

# --- packages -----------------------------------------------------------------
# apt_install PKG...: install without recommends; no service is started by the
# packages' maintainer scripts (temporary policy-rc.d); apt-get update on failure.
apt_install() {
    local policy_created=0 log=/tmp/lrms-apt.log
    local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    say "installing: $*"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local ok=1
    if ! apt-get install "${opts[@]}" "$@" >>"$log" 2>&1; then
        { apt-get update -q -o DPkg::Lock::Timeout=600 && apt-get install "${opts[@]}" "$@"; } \
            >>"$log" 2>&1 || ok=0
    fi
    [ "$policy_created" = 0 ] || rm -f /usr/sbin/policy-rc.d
    [ "$ok" = 1 ] || { tail -n 20 "$log" >&2; fail "apt-get install $* failed (log: $log)"; }
}

missing=()
[ -x "$SSHD" ] || missing+=(openssh-server)
{ command -v ssh && command -v ssh-keygen; } >/dev/null || missing+=(openssh-client)
# the tests run a python3 helper remotely as lrmstest: a system python3 must exist
[ -x /usr/bin/python3 ] || missing+=(python3)
[ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}"

# --- test user ----------------------------------------------------------------
if ! id "$TEST_USER" >/dev/null 2>&1; then
    say "creating user $TEST_USER"
    useradd -m -s /bin/bash "$TEST_USER"
fi
# Without PAM, sshd rejects accounts whose password field starts with "!"
# (useradd's default: "locked").  "*" means "no password" and is not locked.
case "$(getent shadow "$TEST_USER" | cut -d: -f2)" in
    '!'*) usermod -p '*' "$TEST_USER" ;;
esac
case "$(getent shadow root | cut -d: -f2)" in
    '!'*) say "WARNING: root's password field is locked ('!'); key login as root will be refused" ;;
esac
TEST_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
if [ ! -d "$TEST_HOME" ]; then
    install -d -o "$TEST_USER" -g "$(id -gn "$TEST_USER")" -m 755 "$TEST_HOME"
fi
runuser -u "$TEST_USER" -- test -w "$TEST_HOME" ||
    fail "home directory $TEST_HOME of $TEST_USER is not writable by $TEST_USER"

# --- keys and files -----------------------------------------------------------
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)   # sshd wants absolute paths
chmod 755 "$DIR"             # sshd reads authorized_keys/<user> as that user
mkdir -p "$DIR/authorized_keys"
chmod 755 "$DIR/authorized_keys"

new_key() {  # new_key FILE PASSPHRASE COMMENT
    [ -s "$1" ] && [ -s "$1.pub" ] && return 0
    rm -f "$1" "$1.pub"
    ssh-keygen -q -t ed25519 -N "$2" -C "$3" -f "$1"
}
new_key "$DIR/ssh_host_ed25519_key" "" lrms-test-host
new_key "$DIR/id_ed25519" "" lrms-test-client
new_key "$DIR/id_ed25519_pass" "$PASSPHRASE" lrms-test-client-pass
chmod 600 "$DIR/ssh_host_ed25519_key" "$DIR/id_ed25519" "$DIR/id_ed25519_pass"

echo "[$HOST]:$PORT $(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")" | put "$DIR/known_hosts"
cat "$DIR/id_ed25519.pub" "$DIR/id_ed25519_pass.pub" | put "$DIR/authorized_keys/$TEST_USER"
put "$DIR/authorized_keys/root" <"$DIR/id_ed25519.pub"
chmod 644 "$DIR/known_hosts" "$DIR/authorized_keys/$TEST_USER" "$DIR/authorized_keys/root"

# --- sshd_config ----------------------------------------------------------------
mkdir -p /run/sshd && chmod 755 /run/sshd   # privilege separation dir (also for sshd -t)
cat >"$DIR/sshd_config.new" <<CFG
# Generated by tests/services/start-sshd.sh - loopback test server for lrms.
Port $PORT
ListenAddress $HOST
HostKey $DIR/ssh_host_ed25519_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys/%u
AllowUsers $TEST_USER root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# PAM is often unusable in containers; see the "!" password note in the script.
UsePAM no
# The key files sit under world-writable /tmp, which StrictModes refuses.
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
# Tests open many connections at once.
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
Subsystem sftp internal-sftp
CFG
# OpenSSH >= 9.8 throttles clients after failed logins, which tests cause on purpose.
if "$SSHD" -t -f "$DIR/sshd_config.new" -o PerSourcePenalties=no >/dev/null 2>&1; then
    echo "PerSourcePenalties no" >>"$DIR/sshd_config.new"
fi
"$SSHD" -t -f "$DIR/sshd_config.new" 2>&1 ||
    fail "generated config $DIR/sshd_config.new is invalid"

# pid of the sshd listening with $DIR/sshd_config, or nothing
our_pid() {
    local pid
    pid=$(cat "$DIR/sshd.pid" 2>/dev/null) || return 0
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $DIR/sshd_config "; then
        echo "$pid"
    fi
}

pid=$(our_pid)
if [ -n "$pid" ] && ! cmp -s "$DIR/sshd_config.new" "$DIR/sshd_config"; then
    say "config changed; stopping sshd (pid $pid)"
    kill "$pid"
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    pid=""
fi
mv -f "$DIR/sshd_config.new" "$DIR/sshd_config"

if [ -n "$pid" ]; then
    say "sshd already running (pid $pid)"
else
    if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
        fail "port $HOST:$PORT is already in use by another process"
    fi
    rm -f "$DIR/sshd.pid"
    : >"$DIR/sshd.log"
    say "starting sshd on $HOST:$PORT"
    # sshd daemonizes itself; -E sends its log to a file instead of syslog.
    "$SSHD" -f "$DIR/sshd_config" -E "$DIR/sshd.log" </dev/null >/dev/null 2>&1 ||
        fail "sshd failed to start"
fi

put "$DIR/env" <<ENV
LRMS_SSHD_HOST=$HOST
LRMS_SSHD_PORT=$PORT
LRMS_SSHD_USER=$TEST_USER
LRMS_SSHD_HOME=$TEST_HOME
LRMS_SSHD_KEY=$DIR/id_ed25519
LRMS_SSHD_KEY_PASS=$DIR/id_ed25519_pass
LRMS_SSHD_KEY_PASSPHRASE=$PASSPHRASE
LRMS_SSHD_KNOWN_HOSTS=$DIR/known_hosts
LRMS_SSHD_DIR=$DIR
ENV

ssh_as() {  # ssh_as USER CMD...
    local user=$1
    shift
    ssh -F /dev/null -p "$PORT" -i "$DIR/id_ed25519" -o IdentitiesOnly=yes \
        -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=yes \
        -o UserKnownHostsFile="$DIR/known_hosts" -o ConnectTimeout=3 \
        -o LogLevel=ERROR "$user@$HOST" "$@" </dev/null
}

t0=$SECONDS
end=$((SECONDS + TIMEOUT))
until ssh_as "$TEST_USER" true 2>/dev/null; do
    # sshd writes its pid file once it listens; a stale one or none after 5 s: it died
    if [ -z "$(our_pid)" ] && { [ -s "$DIR/sshd.pid" ] || [ $((SECONDS - t0)) -ge 5 ]; }; then
        fail "sshd is not running"
    fi
    [ "$SECONDS" -lt "$end" ] || { ssh_as "$TEST_USER" true || true; fail "login as $TEST_USER@$HOST:$PORT still fails after ${TIMEOUT}s"; }
    sleep 0.1
done
[ -n "$(our_pid)" ] || fail "ssh login works but not through our sshd (pid file $DIR/sshd.pid)"
# shellcheck disable=SC2016  # $HOME expands remotely
ssh_as "$TEST_USER" 'command -v python3 >/dev/null && test -w "$HOME"' ||
    fail "as $TEST_USER over ssh: python3 not on PATH or \$HOME not writable"
say "sshd up on $HOST:$PORT (pid $(our_pid)), user $TEST_USER; variables in $DIR/env"
