#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for testing `--profile slurm` (issue 8).
#
#   scripts/local-slurm.sh up     # install (Debian) if needed, write the config, start
#   scripts/local-slurm.sh status # sinfo
#   scripts/local-slurm.sh down   # stop the daemons (by PID) and remove the state folder
#
# The config is linked at /etc/slurm/slurm.conf (unless the machine has its own; then export
# SLURM_CONF="$LOCAL_SLURM_DIR/slurm.conf" in the shell that runs Snakemake).
#
# What it runs, all bound to 127.0.0.1: munged (as the munge user, its own socket), slurmctld
# and slurmd (as root), with proctrack/linuxproc and task/none (no cgroups, no systemd) and the
# node topology `slurmd -C` reports. There is no slurmdbd: sacct cannot answer, so the
# executor plugin must query job states with squeue (`--slurm-status-command squeue`), and
# finished jobs stay visible to squeue for a day (MinJobAge). The node advertises 16 CPUs,
# 128 GB and 4 stand-in GPUs (plain files as gres devices) so that the profile's per-job requests are
# scheduled on a machine with none of that; jobs then share the real CPUs.
set -euo pipefail

LOCAL_SLURM_DIR="${LOCAL_SLURM_DIR:-/tmp/decoybench-slurm}"
CONF="$LOCAL_SLURM_DIR/slurm.conf"
PACKAGES=(slurmctld slurmd slurm-client munge)

install_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if ((${#missing[@]})); then
        echo "installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    fi
}

write_config() {
    mkdir -p "$LOCAL_SLURM_DIR"/{state,spool,log,munge}
    chown munge:munge "$LOCAL_SLURM_DIR/munge"
    chmod 0711 "$LOCAL_SLURM_DIR/munge"  # munged wants the socket folder traversable
    # `slurmd -C` prints the node line (NodeName=<host> CPUs=... RealMemory=...) and UpTime.
    local node_name
    node_name="$(slurmd -C | head -1 | sed -E 's/^NodeName=([^ ]+).*/\1/')"
    cat >"$CONF" <<EOF
# Written by scripts/local-slurm.sh: a single-node test cluster on 127.0.0.1.
ClusterName=decoybench
SlurmctldHost=$node_name(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$LOCAL_SLURM_DIR/munge/munge.socket
CredType=cred/munge
SlurmctldPidFile=$LOCAL_SLURM_DIR/slurmctld.pid
SlurmdPidFile=$LOCAL_SLURM_DIR/slurmd.pid
StateSaveLocation=$LOCAL_SLURM_DIR/state
SlurmdSpoolDir=$LOCAL_SLURM_DIR/spool
SlurmctldLogFile=$LOCAL_SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$LOCAL_SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# Without slurmdbd, finished jobs must stay visible to squeue for the executor plugin.
MinJobAge=86400
# The node advertises the slurm/ profile's production requests (4 CPUs, 16 GB and a GPU per
# job, a few at once) whatever this machine has: config_overrides trusts these numbers.
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=$node_name NodeAddr=127.0.0.1 CPUs=16 RealMemory=131072 Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=$node_name Default=YES MaxTime=INFINITE State=UP
EOF
    # Four stand-in GPU "devices" (plain files: task/none never opens them).
    touch "$LOCAL_SLURM_DIR"/gpu{0,1,2,3}
    cat >"$LOCAL_SLURM_DIR/gres.conf" <<EOF
NodeName=$node_name Name=gpu File=$LOCAL_SLURM_DIR/gpu[0-3]
EOF
}

# Client commands inside jobs must find the config without SLURM_CONF: the executor plugin
# deletes every SLURM_* variable before it submits (to submit from inside a job), so the
# config is linked at the default path. An /etc/slurm/slurm.conf of the machine's own is
# never replaced.
SYSTEM_CONF=/etc/slurm/slurm.conf

link_config() {
    if [[ -e "$SYSTEM_CONF" && ! -L "$SYSTEM_CONF" ]]; then
        echo "$SYSTEM_CONF exists and is not ours: use SLURM_CONF=$CONF" >&2
        return 0
    fi
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -sfn "$CONF" "$SYSTEM_CONF"
}

unlink_config() {
    if [[ -L "$SYSTEM_CONF" && "$(readlink "$SYSTEM_CONF")" == "$CONF" ]]; then
        rm -f "$SYSTEM_CONF"
    fi
}

start() {
    runuser -u munge -- /usr/sbin/munged \
        --socket="$LOCAL_SLURM_DIR/munge/munge.socket" \
        --pid-file="$LOCAL_SLURM_DIR/munge/munged.pid" \
        --log-file="$LOCAL_SLURM_DIR/munge/munged.log" \
        --seed-file="$LOCAL_SLURM_DIR/munge/munged.seed"
    SLURM_CONF="$CONF" /usr/sbin/slurmctld -f "$CONF"
    SLURM_CONF="$CONF" /usr/sbin/slurmd -f "$CONF"
    for _ in $(seq 1 60); do
        if SLURM_CONF="$CONF" sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            echo "local Slurm up: export SLURM_CONF=$CONF" >&2
            return 0
        fi
        sleep 0.5
    done
    echo "local Slurm did not come up; logs in $LOCAL_SLURM_DIR/log" >&2
    return 1
}

stop() {
    local pid_file
    for pid_file in "$LOCAL_SLURM_DIR/slurmd.pid" "$LOCAL_SLURM_DIR/slurmctld.pid" \
        "$LOCAL_SLURM_DIR/munge/munged.pid"; do
        if [[ -f "$pid_file" ]]; then
            kill "$(cat "$pid_file")" 2>/dev/null || true
        fi
    done
    sleep 1
    unlink_config
    rm -rf "$LOCAL_SLURM_DIR"
}

case "${1:-}" in
    up) install_packages; stop; write_config; link_config; start ;;
    status) SLURM_CONF="$CONF" sinfo ;;
    down) stop ;;
    *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
