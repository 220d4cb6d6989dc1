#!/usr/bin/env bash
# Stop the cluster started by start-cluster.sh STATE_DIR: cancel its jobs,
# then stop slurmd, slurmctld and munged via their pid files in STATE_DIR/run.
# Quiet; always exits 0 (also when nothing runs or STATE_DIR does not exist).
#
# Usage: stop-cluster.sh STATE_DIR

set -u
[ $# -ge 1 ] && [ -d "$1" ] || exit 0
STATE=$(cd "$1" && pwd -P) || exit 0
RUN=$STATE/run
CONF=$STATE/slurm.conf
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"

pid_of() { # pidfile -> pid if that process is alive
    local p
    [ -s "$1" ] || return 1
    p=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

stop_pids() { # pidfile...: TERM all at once, wait up to 10 s, then KILL
    local f p pids="" i alive
    for f in "$@"; do
        p=$(pid_of "$f") && { kill -TERM "$p" 2>/dev/null; pids="$pids $p"; }
    done
    for i in $(seq 100); do
        alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        pids=$alive
        [ -z "$pids" ] && break
        sleep 0.1
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    for f in "$@"; do rm -f "$f"; done
}

# Cancel this cluster's jobs while slurmctld/slurmd still run, so that the
# job processes are cleaned up by slurmstepd (KillWait=2).
if [ -f "$CONF" ] && pid_of "$RUN/slurmctld.pid" >/dev/null; then
    export SLURM_CONF=$CONF
    if [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; then
        timeout 10 scancel --quiet --full --user="$(id -un)" >/dev/null 2>&1
        for _ in $(seq 40); do
            [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
fi

# The daemons take 1.5-2 s each to shut down, so stop them in parallel.
stop_pids "$RUN/slurmd.pid" "$RUN/slurmctld.pid" "$RUN/munged.pid"

# Stray slurmstepd processes of this cluster (they carry the marker that
# start-cluster.sh put into slurmd's environment).
for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
    if tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qxF "MTLBENCH_SLURM_STATE=$STATE"; then
        kill -KILL "${d#/proc/}" 2>/dev/null
    fi
done

exit 0
