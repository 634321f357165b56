#!/usr/bin/env bash
# Print running|success|failed for a SLURM job id without sacct (works with no accounting DB).
jobid="$1"
state=$(squeue -h -j "$jobid" --states=all -o "%T" 2>/dev/null | head -n1)
[ -z "$state" ] && state=$(scontrol show job "$jobid" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n1)
case "$state" in
  COMPLETED) echo success ;;
  PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|STAGE_OUT|SIGNALING|PREEMPTED) echo running ;;
  *) echo failed ;;
esac
