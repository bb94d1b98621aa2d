#!/usr/bin/env bash
# Tests tools/sweep_array.sbatch on a one-node SLURM cluster that it starts itself: munged,
# slurmctld and slurmd on this host (Debian's slurm-wlm and munge; run as root). A tiny sweep
# (6 runs) goes in as a 3-task job array, `sweep merge` joins the shards, and the merged
# summary.csv must equal, byte for byte, that of the same sweep run locally without shards
# (the summary holds no wall times, and the runs are deterministic whatever the thread count).
#
#   tools/slurm_test.sh [COLLAPSE_EXPLORER_BINARY]
#
# The binary defaults to $COLLAPSE_EXPLORER, else $CARGO_TARGET_DIR/debug/collapse-explorer
# (CARGO_TARGET_DIR defaulting to ~/.cache/collapse-explorer/target, as in .ci/run). The
# cluster's configuration, state and logs live in a temporary directory (SLURM_CONF points at
# it; /etc/slurm is left alone); every daemon started here is stopped on exit. A munged that
# already answers is used as it is; otherwise a fresh random key is written to munge's default
# /etc/munge/munge.key and munged is started (and stopped on exit).
set -euo pipefail
START=$SECONDS
REPO=$(cd "$(dirname "$0")/.." && pwd)
SBATCH_SCRIPT=$REPO/tools/sweep_array.sbatch
BIN=${1:-${COLLAPSE_EXPLORER:-${CARGO_TARGET_DIR:-$HOME/.cache/collapse-explorer/target}/debug/collapse-explorer}}

fail() {
  echo "slurm_test: FAIL: $*" >&2
  exit 1
}
say() { echo "slurm_test: $*"; }

[[ $(id -u) -eq 0 ]] || fail "run as root (it starts munged, slurmctld and slurmd)"
[[ -x $BIN ]] || fail "no collapse-explorer binary at $BIN (build it: cargo build --bin collapse-explorer)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
for c in munged munge unmunge slurmctld slurmd sbatch sinfo squeue scancel; do
  command -v "$c" >/dev/null || fail "$c not found (apt-get install slurm-wlm munge)"
done
# The pids of processes named $1 (without procps, which a bare image may lack).
pids_of() {
  local f
  for f in /proc/[0-9]*/comm; do
    [[ $(cat "$f" 2>/dev/null) == "$1" ]] && f=${f#/proc/} && echo "${f%/comm}"
  done
  return 0
}
for d in slurmctld slurmd; do
  p=$(pids_of "$d" | tr '\n' ' ')
  [[ -z $p ]] || fail "a $d is already running (pid $p): this test starts its own cluster"
done

TMP=$(mktemp -d /tmp/slurm_test.XXXXXX)
HOST=$(hostname -s)
NCPU=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
MUNGED_PID=
CTLD_PID=
SLURMD_PID=
JOB=
SB_PID=
PASSED=0
SHARD_RUNS=()

show_logs() {
  local f
  for f in "$TMP"/work/logs/*.out "$TMP"/log/slurmctld.log "$TMP"/log/slurmd.log "$TMP"/log/munged.log; do
    [[ -f $f ]] || continue
    echo "----- $f (last 60 lines)" >&2
    tail -n 60 "$f" >&2
  done
}

stop() {
  local pid=$1 name=$2 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "slurm_test: $name (pid $pid) ignored SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if ((rc != 0 || !PASSED)); then
    show_logs
  fi
  stop "$SB_PID" sbatch
  if [[ -n $JOB ]] && [[ $JOB != 0 ]] && [[ -n $CTLD_PID ]] && kill -0 "$CTLD_PID" 2>/dev/null; then
    scancel "$JOB" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [[ -z $(squeue -h -j "$JOB" 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  stop "$SLURMD_PID" slurmd
  stop "$CTLD_PID" slurmctld
  stop "$MUNGED_PID" munged
  if ((rc == 0 && PASSED)) && [[ -z ${SLURM_TEST_KEEP:-} ]]; then
    rm -rf "$TMP"
  else
    echo "slurm_test: files kept in $TMP" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "slurm_test: interrupted" >&2; exit 130' INT
trap 'echo "slurm_test: terminated" >&2; exit 143' TERM

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# munge: the authentication every SLURM message carries.
munge_ok() { munge -n | unmunge >/dev/null; }
mkdir -p "$TMP/log"
if munge_ok 2>/dev/null; then
  say "using the munged already running"
else
  install -d -o munge -g munge -m 0700 /etc/munge
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  (umask 077 && head -c 1024 /dev/urandom >/etc/munge/munge.key)
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  munged --foreground --force --log-file="$TMP/log/munged.log" >>"$TMP/log/munged.log" 2>&1 &
  MUNGED_PID=$!
  wait_for 10 munge_ok || fail "munged did not start"
  say "munged started (pid $MUNGED_PID, fresh key in /etc/munge/munge.key)"
fi

# The cluster: this host as controller and as its only node. work/ is where the job is
# submitted from; its logs/ must exist before (SLURM opens the job's output file there).
mkdir -p "$TMP/state" "$TMP/spool" "$TMP/work/logs"
export SLURM_CONF=$TMP/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=cetest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i >>"$TMP/log/slurmctld.stderr" 2>&1 &
CTLD_PID=$!
wait_for 20 sinfo -h || {
  cat "$TMP/log/slurmctld.stderr" >&2 || true
  fail "slurmctld did not answer within 20 s"
}
slurmd -D -N "$HOST" >>"$TMP/log/slurmd.stderr" 2>&1 &
SLURMD_PID=$!
node_idle() { [[ $(sinfo -h -n "$HOST" -o %T) == idle ]]; }
wait_for 30 node_idle || {
  cat "$TMP/log/slurmd.stderr" >&2 || true
  sinfo -N -l >&2 || true
  fail "node $HOST did not become idle within 30 s (state: $(sinfo -h -n "$HOST" -o %T 2>&1))"
}
say "cluster up: slurmctld pid $CTLD_PID, slurmd pid $SLURMD_PID, node $HOST ($NCPU CPUs) idle"

# A tiny sweep: 3 widths x 2 seeds on 1-D MoG, well under a second a run.
cd "$TMP/work"
cat >tiny.toml <<'EOF'
name = "slurm test"
seeds = [0, 1]

[base]
dataset = "mog1d"
n_data = 2000
depth = 2
iters = 200
batch = 256
samplers = ["ode", "sde"]
steps = 50
n_samples = 500
tid_points = 500
tid_repeats = 2
eps = [0.05, 0.1]
metric_draws = 2000

[grid]
width = [8, 16, 32]
EOF
TOTAL=$("$BIN" sweep tiny.toml --dry-run 2>/dev/null | grep -c 'to run') || fail "sweep --dry-run failed"
((TOTAL >= 3)) || fail "the sweep plans $TOTAL runs, fewer than the 3 shards"

# The array: the script's own #SBATCH sizes (4 CPUs, 8G, 12 h) are for the paper's runs;
# the command line overrides them to fit one small node. --wait returns the highest exit
# status of the array's tasks.
say "submitting a 3-task array of tools/sweep_array.sbatch"
# In the background, so that a signal to this script is handled at once (a foreground command
# holds off the traps until it returns).
: >sbatch.out
JOB_START=$SECONDS
COLLAPSE_EXPLORER=$BIN SWEEP_FULL=0 timeout 300 sbatch --parsable --wait --array=0-2 \
  --cpus-per-task=1 --mem=256M --time=00:05:00 "$SBATCH_SCRIPT" tiny.toml >sbatch.out 2>&1 &
SB_PID=$!
for ((i = 0; i < 50 && !JOB; i++)); do
  JOB=$(head -n 1 sbatch.out | cut -d';' -f1) || true
  [[ $JOB =~ ^[0-9]+$ ]] || JOB=0
  kill -0 "$SB_PID" 2>/dev/null || break
  ((JOB)) || sleep 0.1
done
set +e
wait "$SB_PID"
SB_RC=$?
set -e
SB_PID=
JOB=$(head -n 1 sbatch.out | cut -d';' -f1)
[[ $JOB =~ ^[0-9]+$ ]] || JOB=
OUT=$(cat sbatch.out)
if ((SB_RC != 0)); then
  if [[ -n $JOB ]]; then tail -n +2 <<<"$OUT" >&2; else echo "$OUT" >&2; fi
  if ((SB_RC == 124)); then
    fail "the job array ${JOB:-(not submitted)} did not finish within 300 s"
  fi
  fail "the job array ${JOB:-(not submitted)} failed (sbatch exit $SB_RC; job logs below)"
fi
JOB_SECS=$((SECONDS - JOB_START))
say "job array $JOB finished in $JOB_SECS s"

for i in 0 1 2; do
  d=results/tiny-shard$i
  [[ -f $d/summary.csv ]] || fail "shard $i wrote no $d/summary.csv"
  n=$(find "$d/runs" -mindepth 2 -maxdepth 2 -name result.json | wc -l)
  ((n >= 1)) || fail "shard $i finished no run"
  SHARD_RUNS+=("$n")
done
"$BIN" sweep merge --out results/tiny results/tiny-shard0 results/tiny-shard1 results/tiny-shard2 \
  >merge.log 2>&1 || {
  cat merge.log >&2
  fail "sweep merge failed"
}
"$BIN" sweep tiny.toml --out results/tiny-local >local.log 2>&1 || {
  cat local.log >&2
  fail "the local sweep failed"
}
ROWS=$(($(wc -l <results/tiny/summary.csv) - 1))
((ROWS == TOTAL)) || fail "the merged summary has $ROWS rows, the sweep $TOTAL runs"
if ! cmp -s results/tiny/summary.csv results/tiny-local/summary.csv; then
  diff results/tiny/summary.csv results/tiny-local/summary.csv >&2 || true
  fail "the merged summary.csv differs from the local run's (diff above: < merged, > local)"
fi
PASSED=1
say "PASS: runs per shard ${SHARD_RUNS[*]} (of $TOTAL); merged summary.csv: $ROWS rows," \
  "identical to the local run's; job array $JOB_SECS s, $((SECONDS - START)) s in all"
