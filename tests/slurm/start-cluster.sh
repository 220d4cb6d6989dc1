#!/usr/bin/env bash
# Start a throw-away single-node Slurm cluster (munged + slurmctld + slurmd)
# whose config, key, sockets, spool, logs and pid files all live in STATE_DIR.
#
# Usage: start-cluster.sh STATE_DIR
#   On success the LAST line on stdout is
#       export SLURM_CONF=STATE_DIR/slurm.conf
#   so a caller can `eval "$(start-cluster.sh DIR | tail -n1)"`.
#   Exit 77 (with a one-line reason on stderr) when Slurm/munge cannot be
#   installed or the daemons do not come up: the test treats 77 as "skip".
#   Exit 2 on usage errors.
#
# Environment (all optional):
#   SLURMCTLD_PORT / SLURMD_PORT  ports to use (default: first free port at or
#                                 above 16817 / 16818+)
#   SLURM_START_TIMEOUT           seconds to wait for the node to be idle (60)
#   SLURM_MIN_JOB_AGE             MinJobAge, seconds a finished job stays
#                                 visible to squeue (300, the Slurm default)
#   SLURM_REAL_MEMORY             RealMemory in MB (1024)
#   SLURM_NO_APT=1                never try apt-get install
#   START_CLUSTER_VERBOSE=1       on failure also dump daemon log tails to stderr
#   START_CLUSTER_KEEP=1          on failure leave half-started daemons running
#
# Running it again on a STATE_DIR whose cluster is still up just prints the
# export line; otherwise leftovers are stopped and the cluster is recreated
# (same munge key, fresh slurmctld state).

set -u
PROG=start-cluster.sh
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { # one-line reason on stderr, exit 77
    if [ "${START_CLUSTER_VERBOSE:-0}" = 1 ] && [ -n "${LOG:-}" ]; then
        for f in "$LOG"/munged.log "$LOG"/slurmctld.log "$LOG"/slurmd.log "$LOG"/*.out; do
            [ -f "$f" ] || continue
            echo "---- tail $f" >&2
            tail -n 15 "$f" >&2
        done
    fi
    # Do not leak half-started daemons (set START_CLUSTER_KEEP=1 to debug).
    if [ -n "${STATE:-}" ] && [ "${START_CLUSTER_KEEP:-0}" != 1 ]; then
        "$HERE"/stop-cluster.sh "$STATE" >/dev/null 2>&1
    fi
    echo "$PROG: SKIP: $*" >&2
    exit 77
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $PROG STATE_DIR" >&2
    exit 2
fi

# ---------------------------------------------------------------- binaries
need_bins="munged mungekey slurmctld slurmd sbatch squeue scancel sinfo scontrol"
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"
missing() {
    local b
    for b in $need_bins; do command -v "$b" >/dev/null 2>&1 || return 0; done
    return 1
}
if missing; then
    if [ "${SLURM_NO_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "$PROG: slurm/munge missing, trying apt-get install slurm-wlm munge" >&2
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y slurm-wlm munge ||
          { apt-get update && apt-get install -y slurm-wlm munge; }; } >/dev/null 2>&1
    fi
    missing && skip "slurm-wlm/munge not installed and could not be installed (need: $need_bins)"
fi

# ---------------------------------------------------------------- layout
mkdir -p "$1" || skip "cannot create state dir $1"
STATE=$(cd "$1" && pwd -P) || skip "cannot enter state dir $1"
CONF=$STATE/slurm.conf
MUNGE=$STATE/munge
LOG=$STATE/log
RUN=$STATE/run
CTLD_SPOOL=$STATE/spool/ctld
SLURMD_SPOOL=$STATE/spool/slurmd
export SLURM_CONF=$CONF
# Marker inherited by slurmd -> slurmstepd, lets stop-cluster.sh find strays.
export MTLBENCH_SLURM_STATE=$STATE

pid_alive() { # pidfile
    local p
    [ -s "$1" ] || return 1
    p=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

node_state() {
    timeout 10 sinfo -h -N -o '%T' 2>/dev/null | head -n1
}

print_export() {
    printf 'export SLURM_CONF=%q\n' "$CONF"
}

# Already running from this state dir? Then just reuse it.
if [ -f "$CONF" ] && pid_alive "$RUN/munged.pid" && pid_alive "$RUN/slurmctld.pid" &&
   pid_alive "$RUN/slurmd.pid" &&
   case "$(node_state)" in idle|mixed|allocated) true ;; *) false ;; esac; then
    echo "$PROG: cluster already running in $STATE"
    print_export
    exit 0
fi

# Stop leftovers of a previous (partial) start in this dir.
"$HERE"/stop-cluster.sh "$STATE" >/dev/null 2>&1 || true

mkdir -p "$MUNGE" "$LOG" "$RUN" "$CTLD_SPOOL" "$SLURMD_SPOOL" || skip "cannot create dirs under $STATE"
# munged insists on: key dir not group/world-writable, socket dir world-x.
chmod 755 "$STATE" "$MUNGE" "$RUN" 2>/dev/null
chmod 700 "$CTLD_SPOOL" "$SLURMD_SPOOL" 2>/dev/null

# ---------------------------------------------------------------- ports
# Serialize concurrent start-ups (e.g. parallel tests) so they do not pick
# the same free ports; fd 9 is closed for the daemons so they don't hold it.
if command -v flock >/dev/null 2>&1; then
    exec 9>>/tmp/mtlbench-slurm-start.lock && flock -w 120 9
fi
port_busy() { # port -> 0 if something listens on it (tcp/tcp6)
    local hex
    hex=$(printf '%04X' "$1")
    awk -v h=":$hex" 'NR>1 && $4=="0A" && substr($2, length($2)-4)==h {f=1} END {exit !f}' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() { # start [exclude]
    local p=$1
    while [ "$p" -lt 65000 ]; do
        if [ "$p" != "${2:-}" ] && ! port_busy "$p"; then echo "$p"; return 0; fi
        p=$((p + 1))
    done
    return 1
}
CTLD_PORT=${SLURMCTLD_PORT:-$(free_port 16817)} || skip "no free port for slurmctld"
SLURMD_PORT=${SLURMD_PORT:-$(free_port 16818 "$CTLD_PORT")} || skip "no free port for slurmd"
port_busy "$CTLD_PORT" && skip "SlurmctldPort $CTLD_PORT already in use"
port_busy "$SLURMD_PORT" && skip "SlurmdPort $SLURMD_PORT already in use"

# ---------------------------------------------------------------- munge
KEY=$MUNGE/munge.key
SOCK=$MUNGE/munge.socket
# AF_UNIX paths are limited to 108 bytes; fall back to a short dir in /tmp.
if [ ${#SOCK} -gt 100 ]; then
    short=/tmp/mtlbench-munge.$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)
    mkdir -p "$short" && chmod 755 "$short" || skip "cannot create $short"
    SOCK=$short/munge.socket
fi
if [ ! -s "$KEY" ]; then
    rm -f "$KEY"
    mungekey --create --keyfile="$KEY" >/dev/null 2>&1 ||
        { dd if=/dev/urandom of="$KEY" bs=1 count=1024 2>/dev/null; } ||
        skip "cannot create munge key $KEY"
fi
chmod 600 "$KEY"
# -f: run although ancestors of STATE_DIR are not world-searchable (e.g. a
# 0700 tempdir); everything talking to munged runs as root anyway.
munged -f --key-file="$KEY" --socket="$SOCK" --pid-file="$RUN/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$MUNGE/munged.seed" \
    9>&- </dev/null >>"$LOG/munged.out" 2>&1 ||
    skip "munged failed to start (see $LOG/munged.log)"
ok=
for _ in $(seq 50); do
    if munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
done
[ -n "$ok" ] || skip "munged not answering on $SOCK (see $LOG/munged.log)"

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s 2>/dev/null)
[ -n "$HOST" ] || HOST=localhost
NCPU=$(nproc 2>/dev/null || echo 1)
MEM=${SLURM_REAL_MEMORY:-1024}
: >"$STATE/plugstack.conf"   # do not pick up /etc/slurm/plugstack.conf.d

cat >"$CONF" <<EOF
# Generated by tests/slurm/start-cluster.sh -- single-node test cluster.
ClusterName=mtlbench
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
StateSaveLocation=$CTLD_SPOOL
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$STATE/plugstack.conf
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
KillWait=2
InactiveLimit=0
Waittime=0
MinJobAge=${SLURM_MIN_JOB_AGE:-300}
NodeName=$HOST NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# ---------------------------------------------------------------- daemons
# Both daemonize themselves and write their pid files.
slurmctld -c -f "$CONF" 9>&- </dev/null >>"$LOG/slurmctld.out" 2>&1 ||
    skip "slurmctld failed to start (see $LOG/slurmctld.log)"
slurmd -f "$CONF" -N "$HOST" 9>&- </dev/null >>"$LOG/slurmd.out" 2>&1 ||
    skip "slurmd failed to start (see $LOG/slurmd.log)"

timeout_s=${SLURM_START_TIMEOUT:-60}
deadline=$((SECONDS + timeout_s))
state=
while [ $SECONDS -lt $deadline ]; do
    sleep 0.5
    state=$(node_state)
    [ "$state" = idle ] && break
    # pid files appear after daemonizing; give them a moment before judging.
    if [ $((SECONDS + timeout_s - deadline)) -ge 5 ]; then
        pid_alive "$RUN/slurmctld.pid" || skip "slurmctld died (see $LOG/slurmctld.log)"
        pid_alive "$RUN/slurmd.pid" || skip "slurmd died (see $LOG/slurmd.log)"
    fi
done
if [ "$state" != idle ]; then
    reason=$(timeout 10 sinfo -h -N -o '%T %E' 2>/dev/null | head -n1)
    skip "node not idle after ${timeout_s}s (sinfo: '${reason:-no answer}'; logs in $LOG)"
fi

echo "$PROG: cluster up in $STATE (node $HOST, $NCPU CPUs, ports $CTLD_PORT/$SLURMD_PORT)"
print_export
