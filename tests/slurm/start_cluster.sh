#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (loopback), for the SLURM tests and for
# trying the slurm profile by hand. Needs root and Debian's slurm-wlm and munge
# (`make system-deps`). Idempotent: a running cluster is left as it is.
#   bash tests/slurm/start_cluster.sh          start (and wait until the node is idle)
#   bash tests/slurm/start_cluster.sh stop     stop the daemons
set -euo pipefail

conf_dir=/etc/slurm
state=/var/spool/slurm
host=$(hostname -s)

if [[ "${1:-start}" == stop ]]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    exit 0
fi

for tool in slurmctld slurmd munged sinfo; do
    command -v "$tool" >/dev/null || { echo "start_cluster: '$tool' missing; run 'make system-deps' (as root)" >&2; exit 1; }
done

if sinfo -h -o %T 2>/dev/null | grep -q idle; then
    echo "start_cluster: a cluster is already up on $host"; exit 0
fi

# The node claims the size of a typical cluster node (config_overrides lets slurmd accept that
# on a small machine), so the real profile's requests (8 CPUs, 32 GB for extraction) schedule
# unchanged; nothing enforces the limits here, the jobs simply share the real cores.
cpus=${SLURM_TEST_CPUS:-16}
mem_mb=${SLURM_TEST_MEM_MB:-64000}

mkdir -p "$conf_dir" "$state/ctld" "$state/d" /var/log/slurm /run/munge
cat >"$conf_dir/slurm.conf" <<CONF
# one-node test cluster written by tests/slurm/start_cluster.sh
ClusterName=samderm-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
# a requeued job waits out the credential lifetime before it starts again: 120 s by default,
# 20 s here so the fault tests (tests/slurm/test_slurm_faults.py) stay short
AuthInfo=cred_expire=20
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
# memory is enforced as on a real cluster: a job whose processes use more than it asked for is
# killed (state OUT_OF_MEMORY), polled every second (no cgroups in a container)
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
GresTypes=gpu
# a node an admin sets DOWN stays down until RESUMEd (as on a real cluster); one that stopped
# answering comes back by itself
ReturnToService=1
SlurmdParameters=config_overrides
# the executor plugin polls squeue (no accounting here): finished jobs must stay visible
# (>= 120 s); an hour, so the tests can still read what a finished job asked for
MinJobAge=3600
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=$host CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# a fake GPU device so jobs that ask for one are scheduled (they fall back to CPU)
echo "NodeName=$host Name=gpu Count=1 File=/dev/null" >"$conf_dir/gres.conf"

if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

pkill -x slurmctld || true
pkill -x slurmd || true
sleep 1
slurmctld -c    # -c: start clean, forget jobs of an earlier run
slurmd

for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then
        echo "start_cluster: node $host idle ($cpus CPUs, ${mem_mb} MB, gpu:1)"
        exit 0
    fi
    sleep 1
done
echo "start_cluster: the node did not come up; logs in /var/log/slurm" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
