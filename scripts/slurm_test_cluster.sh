#!/usr/bin/env bash
# slurm_test_cluster.sh — install and start a real one-node Slurm cluster for tests.
#
# Purpose: CI of the somnium project starts this test cluster before running
# `tests/slurm.rs` (the Slurm launcher integration tests). It is meant for a
# fresh, throw-away Debian 12 (bookworm) machine or container where we are root
# and no init system (systemd) is running: the daemons are started directly.
#
# Usage:
#   scripts/slurm_test_cluster.sh          # install (if needed), configure, start, wait for idle node
#   scripts/slurm_test_cluster.sh start    # same
#   scripts/slurm_test_cluster.sh status   # print daemon pids and sinfo
#   scripts/slurm_test_cluster.sh stop     # stop slurmd, slurmctld, (slurmdbd, mariadbd,) munged
#   scripts/slurm_test_cluster.sh restart  # stop + start
#
# Environment knobs (all optional):
#   SLURM_TEST_CLUSTER_NAME   ClusterName                          [somnium-test]
#   SLURM_TEST_TIMEOUT        seconds to wait for daemons/idle node [60]
#   SLURM_TEST_LOG_DIR        daemon log directory                 [/var/log/slurm]
#   SLURM_TEST_ACCOUNTING     1: also install/start MariaDB + slurmdbd so that
#                             `sacct` works (adds ~15 s install, ~2 s start)  [0]
#
# Idempotent: a second run starts no second daemons (checked by pid file and
# process name; slurmctld/slurmd/slurmdbd would also kill an older instance
# named in their pid file themselves). It regenerates slurm.conf; if the content
# is unchanged, running daemons are left alone (jobs survive), otherwise
# slurmctld and slurmd are restarted to pick it up (running jobs survive that
# too: their slurmstepd keeps running). Then it waits for the node again.
# A cold start takes about 1 s once the packages are installed.
#
# Constraints / findings (Slurm 22.05.8 from Debian bookworm, munge 0.5.15,
# tested in a gVisor container with 2 cores):
# * The package postinst cannot start services (no systemd; policy-rc.d exits
#   101 in containers), so munged, slurmctld and slurmd are started here by hand.
#   Debian's postinst already creates /etc/munge/munge.key; we create one only
#   if it is missing. munged runs as user munge (runuser), like the unit file.
# * SlurmctldHost/NodeName must be the short hostname (`hostname -s`): slurmctld
#   only runs on the host named by SlurmctldHost, and slurmd finds its node line
#   by hostname. To not depend on DNS or /etc/hosts we pin the addresses to
#   127.0.0.1 (SlurmctldHost=host(127.0.0.1), NodeAddr=127.0.0.1).
# * No cgroups: containers have no usable cgroup hierarchy for Slurm, so
#   ProctrackType=proctrack/linuxproc, TaskPlugin=task/none and
#   JobAcctGatherType=jobacct_gather/none. Nothing is enforced: a 1-CPU job
#   still sees all cores (`nproc`), --mem is not enforced.
# * CPUs/memory come from `slurmd -C` (real cores; OverSubscribe=NO default).
#   SelectType=select/cons_tres + CR_Core: at most one 1-CPU job per core;
#   memory is not a consumable resource, so jobs need no --mem.
# * The logs always show harmless "mpi/pmix_v4 ... can not load PMIx library"
#   errors (MpiDefault=none) and munged logs "Unauthorized credential" infos.
# * SchedulerParameters=batch_sched_delay=0: without it a freed core was
#   refilled only every ~3 s; with it, ~1 s (job start after submit: ~1 s).
# * Accounting (default): AccountingStorageType=accounting_storage/none, so
#   `sacct` prints "Slurm accounting storage is disabled" and exits 1. Job
#   completion records go as text to $LOG_DIR/jobcomp.log (JobCompType=
#   jobcomp/filetxt; sacct 22.05 cannot read them). Use
#   `squeue -h -t all -j ID -o '%i %T'`: without `-t all` finished jobs are not
#   listed; with it they are listed for MinJobAge=300 s, after which squeue says
#   "slurm_load_jobs error: Invalid job id specified" (exit 1).
#   With SLURM_TEST_ACCOUNTING=1, `sacct -j ID -n -P -o JobID,State` prints
#   "ID|COMPLETED" and "ID.batch|COMPLETED" (array: "ID_0|..", "ID_[2-3]|PENDING");
#   a cancelled job reads "CANCELLED by 0"; right after sbatch it prints nothing
#   for ~0.5 s and it can lag squeue slightly.
# * Cancelling a still-PENDING single array task (scancel ID_3) leaves no record
#   at all (neither squeue -t all nor sacct); cancelling a running one gives
#   CANCELLED. Job ids restart at 1 if StateSaveLocation is wiped.
# * SlurmUser=root, SlurmdUser=root: jobs run as the submitting user (root in
#   CI, uid 0), can run binaries under /work and honour --chdir (default: the
#   sbatch cwd; output slurm-%j.out / slurm-%A_%a.out goes there).
# * ReturnToService=2: a node that was DOWN (e.g. after slurmd restart) returns
#   to service as soon as it registers with a valid configuration.
# * `stop` does not cancel jobs; a running job's slurmstepd outlives it and is
#   picked up again by the next start.
set -euo pipefail

CLUSTER_NAME="${SLURM_TEST_CLUSTER_NAME:-somnium-test}"
TIMEOUT="${SLURM_TEST_TIMEOUT:-60}"
LOG_DIR="${SLURM_TEST_LOG_DIR:-/var/log/slurm}"
ACCOUNTING="${SLURM_TEST_ACCOUNTING:-0}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
MUNGE_KEY=/etc/munge/munge.key
DBD_CONF=/etc/slurm/slurmdbd.conf
DBD_PID=/run/slurmdbd.pid
MARIADB_PID=/run/mysqld/mysqld.pid

log() { echo "[slurm_test_cluster] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# pid of a running process named $1 (from pid file $2, else by name), or empty.
daemon_pid() {
    local name="$1" pidfile="$2" pid=""
    if [ -s "$pidfile" ]; then
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$name" ]; then
            echo "$pid"
            return 0
        fi
    fi
    # Stale or missing pid file: look by exact process name.
    pgrep -x "$name" 2>/dev/null | head -n1 || true
}

stop_daemon() {
    local name="$1" pidfile="$2" pid i
    for _ in 1 2; do
        pid="$(daemon_pid "$name" "$pidfile")"
        [ -n "$pid" ] || break
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            log "$name did not exit; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    done
    rm -f "$pidfile"
}

dump_logs() {
    local f
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" "$LOG_DIR/slurmdbd.log" \
        /var/log/munge/munged.log; do
        if [ -f "$f" ]; then
            echo "===== tail -n 40 $f =====" >&2
            tail -n 40 "$f" >&2 || true
        fi
    done
    echo "===== sinfo =====" >&2
    sinfo -N -l >&2 2>&1 || true
    scontrol show node >&2 2>&1 || true
}

do_stop() {
    stop_daemon slurmd "$SLURMD_PID"
    stop_daemon slurmctld "$CTLD_PID"
    stop_daemon slurmdbd "$DBD_PID"
    stop_daemon mariadbd "$MARIADB_PID"
    stop_daemon munged "$MUNGE_PID"
    log "stopped"
}

do_status() {
    local n
    for n in "munged:$MUNGE_PID" "mariadbd:$MARIADB_PID" "slurmdbd:$DBD_PID" \
        "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID"; do
        local pid
        pid="$(daemon_pid "${n%%:*}" "${n#*:}")"
        echo "${n%%:*}: ${pid:-not running}"
    done
    sinfo 2>&1 || true
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' scripts must not start the daemons with Debian's
    # defaults (this script configures and starts them): where no
    # policy-rc.d forbids it (containers usually have one), one does for
    # the install.
    local policy=/usr/sbin/policy-rc.d ours=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && ours=1
    fi
    local status=0
    apt-get install -y -qq slurm-wlm munge >/dev/null || {
        log "install failed; running apt-get update and retrying"
        apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null
    } || status=$?
    if [ "$ours" = 1 ]; then rm -f "$policy"; fi
    return "$status"
}

start_munge() {
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s "$MUNGE_KEY" ]; then
        log "creating munge key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    if [ -n "$(daemon_pid munged "$MUNGE_PID")" ]; then
        log "munged already running"
    else
        log "starting munged"
        rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock "$MUNGE_PID"
        runuser -u munge -- /usr/sbin/munged --force
    fi
    local i
    for i in $(seq 1 50); do
        if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 /var/log/munge/munged.log >&2 || true
    die "munge does not work"
}

# Optional accounting (SLURM_TEST_ACCOUNTING=1): MariaDB + slurmdbd on localhost.
start_accounting() {
    local i tmp
    if ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
        log "installing mariadb-server and slurmdbd"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y mariadb-server slurmdbd; then
            apt-get update
            apt-get install -y mariadb-server slurmdbd
        fi
    fi
    if [ -n "$(daemon_pid mariadbd "$MARIADB_PID")" ]; then
        log "mariadbd already running"
    else
        log "starting mariadbd"
        install -d -o mysql -g mysql -m 0755 /run/mysqld
        setsid /usr/sbin/mariadbd --user=mysql --pid-file="$MARIADB_PID" \
            </dev/null >>"$LOG_DIR/mariadb.log" 2>&1 &
    fi
    for i in $(seq 1 $((TIMEOUT * 5))); do
        mariadb -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.2
    done
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;" \
        || { tail -n 20 "$LOG_DIR/mariadb.log" >&2; die "mariadb does not work"; }
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF
# Generated by scripts/slurm_test_cluster.sh — test accounting daemon. Do not edit.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
DebugLevel=info
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$DBD_PID
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    if [ -f "$DBD_CONF" ] && cmp -s "$tmp" "$DBD_CONF"; then
        rm -f "$tmp"
    else
        install -m 0600 "$tmp" "$DBD_CONF"   # slurmdbd insists on mode 600
        rm -f "$tmp"
        stop_daemon slurmdbd "$DBD_PID"
    fi
    if [ -n "$(daemon_pid slurmdbd "$DBD_PID")" ]; then
        log "slurmdbd already running"
    else
        log "starting slurmdbd"
        slurmdbd || { dump_logs; die "slurmdbd failed to start"; }
    fi
    for i in $(seq 1 $((TIMEOUT * 5))); do
        sacctmgr -n -P list cluster >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    dump_logs
    die "slurmdbd does not answer"
}

# Node hardware line from `slurmd -C`, fallback nproc/free.
node_hw() {
    local line="" cpus mem
    line="$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* //p' | head -n1 || true)"
    if [ -n "$line" ] && echo "$line" | grep -q 'CPUs=' && echo "$line" | grep -q 'RealMemory='; then
        echo "$line"
        return 0
    fi
    cpus="$(nproc)"
    mem="$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)"
    echo "CPUs=$cpus RealMemory=$mem"
}

write_conf() {
    local host="$1" hw tmp acct
    hw="$(node_hw)"
    if [ "$ACCOUNTING" = 1 ]; then
        acct=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost'
    else
        acct='AccountingStorageType=accounting_storage/none'
    fi
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF
# Generated by scripts/slurm_test_cluster.sh — one-node test cluster. Do not edit.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=300
KillWait=5
SlurmdTimeout=60
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
$acct
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host $hw State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES State=UP MaxTime=INFINITE
EOF
    # Print 1 if the file changed.
    if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        echo 0
    else
        install -m 0644 "$tmp" "$CONF"
        rm -f "$tmp"
        echo 1
    fi
}

node_state() {
    sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -n1 || true
}

do_start() {
    local start_ts host changed state i resumed=0
    start_ts="$(date +%s)"
    install_packages
    host="$(hostname -s)"
    [ -n "$host" ] || die "empty hostname"

    install -d -m 0755 "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
    start_munge

    changed="$(write_conf "$host")"
    if [ "$changed" = 1 ]; then
        log "wrote $CONF"
        if [ -n "$(daemon_pid slurmctld "$CTLD_PID")$(daemon_pid slurmd "$SLURMD_PID")" ]; then
            log "configuration changed; restarting slurm daemons"
            stop_daemon slurmd "$SLURMD_PID"
            stop_daemon slurmctld "$CTLD_PID"
        fi
    else
        log "$CONF unchanged"
    fi
    # After write_conf: sacctmgr (the readiness probe) reads slurm.conf.
    if [ "$ACCOUNTING" = 1 ]; then
        start_accounting
    fi

    if [ -n "$(daemon_pid slurmctld "$CTLD_PID")" ]; then
        log "slurmctld already running"
    else
        log "starting slurmctld"
        # -i: ignore unreadable state files left over from an old setup.
        slurmctld -i || { dump_logs; die "slurmctld failed to start"; }
    fi
    # Wait until the controller answers.
    for i in $(seq 1 $((TIMEOUT * 5))); do
        scontrol ping 2>/dev/null | grep -q 'is UP' && break
        sleep 0.2
    done
    scontrol ping 2>/dev/null | grep -q 'is UP' || { dump_logs; die "slurmctld does not answer"; }

    if [ -n "$(daemon_pid slurmd "$SLURMD_PID")" ]; then
        log "slurmd already running"
    else
        log "starting slurmd"
        slurmd || { dump_logs; die "slurmd failed to start"; }
    fi

    log "waiting up to ${TIMEOUT}s for node $host to be idle"
    local deadline=$((start_ts + TIMEOUT))
    while :; do
        state="$(node_state "$host")"
        case "$state" in
            idle|mixed|allocated) break ;;
            down*|drain*|drained*|fail*)
                # E.g. left DOWN/DRAINED by an earlier run; resume once.
                if [ "$resumed" = 0 ]; then
                    log "node state '$state'; resuming it"
                    scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
                    resumed=1
                fi
                ;;
        esac
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "node state '${state:-unknown}' after ${TIMEOUT}s"
            dump_logs
            die "node did not become idle"
        fi
        sleep 0.5
    done
    log "cluster up in $(($(date +%s) - start_ts))s: node $host is $state"
    sinfo >&2
}

case "${1:-start}" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    restart) do_stop; do_start ;;
    *) die "usage: $0 [start|stop|status|restart]" ;;
esac
