#!/usr/bin/env bash
# setup-torque-wrappers.sh - Slurm's Torque compatibility wrappers (Debian package
# slurm-wlm-torque: Perl qsub, qstat, qdel, pbsnodes ...) in a private directory, as a
# stand-in PBS/Torque for the lrms PBS backend's end-to-end tests.  Run as root on
# Debian 12 after tests/services/start-slurm.sh (the wrappers drive that cluster).
#
# The package itself is NOT installed: it conflicts with gridengine-client, whose
# qsub/qstat live in /usr/bin and must stay.  Instead the .deb is downloaded and
# unpacked into $LRMS_TORQUE_ROOT (default /opt/lrms-torque), its Perl dependencies
# are installed with apt-get, and links to the Slurm commands are put next to the
# wrappers (qsub runs "$(dirname qsub)/sbatch").  Idempotent: a second run only checks.
#
# Writes /tmp/lrms-torque.env:  LRMS_TORQUE_BIN=<directory holding qsub, qstat ...>
# On failure: a message on stderr and a non-zero exit.
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=${LRMS_TORQUE_ROOT:-/opt/lrms-torque}
BIN=$ROOT/usr/bin
ENV_FILE=/tmp/lrms-torque.env
PACKAGE=slurm-wlm-torque
PERL_DEPS=(libslurm-perl libslurmdb-perl libswitch-perl)
SLURM_COMMANDS=(sbatch salloc srun squeue scontrol scancel sinfo)

say() { echo "[setup-torque-wrappers] $*"; }
fail() { echo "[setup-torque-wrappers] ERROR: $*" >&2; exit 1; }
trap 'echo "[setup-torque-wrappers] ERROR: line $LINENO: $BASH_COMMAND failed" >&2' ERR

[ "$(id -u)" = 0 ] || fail "must run as root"
command -v sbatch >/dev/null || fail "Slurm is not installed: run tests/services/start-slurm.sh first"
gridengine_qsub=$(readlink -f /usr/bin/qsub 2>/dev/null || true)

# --- Perl modules the wrappers use ------------------------------------------------------
ensure_packages "${PERL_DEPS[@]}"

# --- the wrappers, unpacked ---------------------------------------------------------------
if [ ! -x "$BIN/qsub" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # The wrappers must match the running Slurm (they use its Perl API).
    want=$(dpkg-query -W -f='${Version}' slurm-client 2>/dev/null || true)
    spec=$PACKAGE${want:+=$want}
    say "downloading $spec"
    chmod 777 "$work"   # apt's sandbox user writes the download there
    if ! (cd "$work" && apt-get download -q "$spec") >"$work/log" 2>&1; then
        (cd "$work" && apt-get update -q && apt-get download -q "$spec") >>"$work/log" 2>&1 ||
            { cat "$work/log" >&2; fail "apt-get download $spec failed"; }
    fi
    deb=$(ls "$work"/"$PACKAGE"_*.deb)
    got=$(dpkg-deb -f "$deb" Version)
    mkdir -p "$ROOT"
    dpkg -x "$deb" "$ROOT"
    say "unpacked $PACKAGE $got into $ROOT"
fi
for name in "${SLURM_COMMANDS[@]}"; do
    target=$(command -v "$name") || fail "Slurm command $name not found"
    ln -sfn "$target" "$BIN/$name"
done

# --- check: the wrappers work against the running cluster -----------------------------------
out=$("$BIN/qstat" -Q 2>&1) || { echo "$out" >&2; fail "$BIN/qstat -Q fails (is Slurm running?)"; }
script=$(mktemp /tmp/lrms-torque-check.XXXXXX)
printf '#!/bin/sh\ntrue\n' >"$script"
out=$(cd /tmp && "$BIN/qsub" -N lrms-torque-check -j oe -o /dev/null "$script" 2>&1) ||
    { rm -f "$script"; echo "$out" >&2; fail "$BIN/qsub cannot submit a job to Slurm"; }
rm -f "$script"
id=$(tail -n 1 <<<"$out")
[[ "$id" =~ ^[0-9]+ ]] || fail "$BIN/qsub printed no job id: $out"
"$BIN/qdel" "$id" >/dev/null 2>&1 || true   # it may have finished already
[ "$(readlink -f /usr/bin/qsub 2>/dev/null || true)" = "$gridengine_qsub" ] ||
    fail "/usr/bin/qsub changed; the Grid Engine client must stay untouched"

echo "LRMS_TORQUE_BIN=$BIN" >"$ENV_FILE.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
say "Torque wrappers ready in $BIN (check job $id)"
