# shellcheck shell=bash
# Shell functions shared by the service scripts (sourced, not run).
# The sourcing script defines say MESSAGE and fail MESSAGE before calling these.

# ensure_packages PKG...: apt-get install the ones not installed yet, without
# recommends; the packages' maintainer scripts may not start services (a
# temporary policy-rc.d); on failure, apt-get update and try once more.
ensure_packages() {
    local p missing=() policy_created=0 ok=1 t0=$SECONDS log=/tmp/lrms-apt.log
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    say "installing: ${missing[*]} (log: $log)"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install "${opts[@]}" "${missing[@]}" >>"$log" 2>&1; then
        { apt-get update -q -o DPkg::Lock::Timeout=600 && apt-get install "${opts[@]}" "${missing[@]}"; } \
            >>"$log" 2>&1 || ok=0
    fi
    [ "$policy_created" = 0 ] || rm -f /usr/sbin/policy-rc.d
    [ "$ok" = 1 ] || { tail -n 20 "$log" >&2; fail "apt-get install ${missing[*]} failed (log: $log)"; }
    say "installed in $((SECONDS - t0)) s"
}

# running PID: the process exists and is not a zombie (an init that reaps
# slowly leaves exited daemons as zombies, which `kill -0` still reports)
running() {
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ]
}

# children PID: the pids whose parent is PID (from /proc; ps may be missing)
children() {
    local f s
    for f in /proc/[0-9]*/stat; do
        { read -r s <"$f"; } 2>/dev/null || continue
        s=${s##*) }
        s=${s#* }
        if [ "${s%% *}" = "$1" ]; then f=${f%/stat}; echo "${f#/proc/}"; fi
    done
}
