#!/usr/bin/env bash
# Single-node SLURM on a systemd-less Debian box, started and stopped by PID (root only).
# Usage: local_slurm.sh start|stop   (one-node SLURM without an accounting DB; README "Running on SLURM")
set -euo pipefail
cmd=${1:-start}
if [ "$cmd" = stop ]; then
  for f in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
    if [ -s "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; sleep 1; fi
  done
  exit 0
fi
if ! command -v slurmctld >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
host=$(hostname -s); cpus=$(nproc); mem=$(( $(free -m | awk '/^Mem:/{print $2}') * 8 / 10 ))
mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=localcluster
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
MinJobAge=300
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
rm -f /etc/slurm/cgroup.conf
mkdir -p /run/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown munge:munge /run/munge; chown slurm:slurm /var/spool/slurmctld /var/log/slurm
[ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
munge -n | unmunge >/dev/null
/usr/sbin/slurmctld; /usr/sbin/slurmd
for i in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle
