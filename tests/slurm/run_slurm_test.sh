#!/usr/bin/env bash
# Real single-node SLURM test of the workflow with profiles/slurm
# (snakemake-executor-plugin-slurm). Run as root, e.g. from .ci/run:
#   PATH="$PWD/.venv/bin:$PATH" bash tests/slurm/run_slurm_test.sh
# 1. installs Debian's munge, slurmctld, slurmd, slurm-client if missing;
# 2. starts munged and a one-node SLURM on 127.0.0.1 (this host's CPUs and
#    memory, no accounting database) from a temporary folder;
# 3. runs one demo session and seed through SLURM in a copy of the checkout
#    (GPU requests off: train_gpus=0), checks that every non-local job ran as
#    a SLURM job (plugin logs, squeue, scontrol), and that its metrics equal
#    those of a local run of the same targets (results/ of `make demo` when
#    up to date, else a local run made here);
# 4. stops the daemons by pid and removes the temporary folder, also on
#    failure. Ends with a PASS or FAIL line; exit status 0 only on PASS.
# Environment: SLURM_TEST_KEEP=1 keeps the temporary folder; SLURM_TEST_BUDGET
# (default 570) is the time in seconds after which the snakemake runs are
# stopped (the checks after them take a few seconds).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/tests/slurm"
SESSION=indy_synth_01
SEED=1
TOL=1e-6
BUDGET_S=${SLURM_TEST_BUDGET:-570}  # whole test (s): the snakemake runs are stopped in time to stay < 10 min
START=$(date +%s)
WORK=""
CONF=/etc/slurm/slurm.conf
CONF_BACKUP=""
STAGE="setup"
LOCAL_PID=""

log() { echo "[slurm-test +$(( $(date +%s) - START ))s] $*"; }
remaining_s() { local r=$(( START + BUDGET_S - 15 - $(date +%s) )); echo $(( r > 10 ? r : 10 )); }
die() { echo "error: $*" >&2; exit 1; }

stop_pidfile() {  # stop_pidfile NAME FILE: TERM the pid in FILE, wait, then KILL
    local name=$1 file=$2 pid i
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    echo "stopped $name (pid $pid)"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$LOCAL_PID" ] && kill -0 "$LOCAL_PID" 2>/dev/null; then
        kill -TERM -- "-$LOCAL_PID" 2>/dev/null; wait "$LOCAL_PID" 2>/dev/null
        echo "stopped the local reference run (process group $LOCAL_PID)"
    fi
    if [ -n "$WORK" ]; then
        if [ -s "$WORK/slurm/slurmctld.pid" ] && kill -0 "$(cat "$WORK/slurm/slurmctld.pid")" 2>/dev/null; then
            # only jobs of this private controller exist; end them before the daemons
            scancel --user "$(id -un)" >/dev/null 2>&1
            for _ in $(seq 20); do
                [ -z "$(squeue --noheader --states=PENDING,RUNNING,COMPLETING 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
        stop_pidfile slurmd "$WORK/slurm/slurmd.pid"
        stop_pidfile slurmctld "$WORK/slurm/slurmctld.pid"
        stop_pidfile munged "$WORK/munge-run/munged.pid"
        if [ "$rc" -ne 0 ] && [ -f "$WORK/slurm/log/slurmctld.log" ]; then
            echo "--- tail of slurmctld.log"; tail -n 15 "$WORK/slurm/log/slurmctld.log"
            echo "--- tail of slurmd.log"; tail -n 15 "$WORK/slurm/log/slurmd.log"
        fi
    fi
    if [ -n "$CONF_BACKUP" ]; then
        mv -f "$CONF_BACKUP" "$CONF"
    elif [ -f "$CONF" ] && grep -q "^# rsnn-decoding slurm test" "$CONF"; then
        rm -f "$CONF"
    fi
    if [ -n "$WORK" ]; then
        if [ "${SLURM_TEST_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
    fi
    local total=$(( $(date +%s) - START ))
    if [ "$rc" -eq 0 ]; then
        echo "PASS: SLURM test (every non-local job ran as a SLURM job, metrics equal the local run to $TOL) in ${total} s"
    else
        echo "FAIL: SLURM test failed during '$STAGE' (exit $rc) after ${total} s"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] || die "run as root (installs packages and starts SLURM daemons)"
command -v snakemake >/dev/null || die "snakemake is not on PATH; use PATH=\"\$PWD/.venv/bin:\$PATH\""
SNAKEMAKE=$(command -v snakemake)
PY="$(dirname "$SNAKEMAKE")/python"
[ -x "$PY" ] || PY=python3
log "snakemake $("$SNAKEMAKE" --version) at $SNAKEMAKE"

# ---------------------------------------------------------------- packages
STAGE="install"
if ! command -v munged >/dev/null || ! command -v slurmctld >/dev/null \
        || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
    log "installing munge slurmctld slurmd slurm-client"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null
fi
MUNGED=$(command -v munged || echo /usr/sbin/munged)
SLURMCTLD=$(command -v slurmctld || echo /usr/sbin/slurmctld)
SLURMD=$(command -v slurmd || echo /usr/sbin/slurmd)
if "$PY" - <<'EOF' 2>/dev/null; then :; else die "no SLURM controller may already run here (port 16817 in use)"; fi
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 16817)); s.close()
EOF

WORK=$(mktemp -d /tmp/rsnn-slurm-test.XXXXXX)
chmod 755 "$WORK"

# ---------------------------------------------------------------- inputs
STAGE="prepare"
NODE=$(hostname -s)
HW=$("$SLURMD" -C | head -n 1)                  # this host's real CPUs and memory
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM_TOTAL=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
[ -n "$CPUS" ] && [ -n "$MEM_TOTAL" ] || die "could not read CPUs/RealMemory from: $HW"
MEM=$(( MEM_TOTAL > 3072 ? MEM_TOTAL - 1024 : MEM_TOTAL * 2 / 3 ))
MODELS=$(cd "$REPO" && "$PY" -c 'import yaml; print(" ".join(yaml.safe_load(open("config/demo.yaml"))["models"]))')
TARGETS=()
for m in $MODELS; do TARGETS+=("results/results_${m}_${SESSION}.json"); done
# The subset as a config file: `--config seeds=[1]` would give the string "1".
# Memory requests are capped so that every job fits on this node.
JOB_MEM=$(( MEM / CPUS ))
cat > "$WORK/subset.yaml" <<EOF
seeds: [$SEED]
sessions: [$SESSION]
train_gpus: 0
mem_mb: {train: $JOB_MEM, evaluate: $JOB_MEM, default: $JOB_MEM}
EOF
CONFIG_ARGS=(--configfile config/demo.yaml "$WORK/subset.yaml")
log "targets: ${TARGETS[*]}"
log "config: config/demo.yaml + $(tr '\n' ' ' < "$WORK/subset.yaml")"

copy_checkout() {  # copy_checkout DEST: the checkout without outputs, venv and caches
    mkdir -p "$1"
    tar -C "$REPO" --exclude=./results --exclude=./.snakemake --exclude=./.venv \
        --exclude=./resources/synthetic --exclude=./resources/zenodo --exclude=./.git \
        --exclude='*/__pycache__' --exclude=./.pytest_cache --exclude=./.ruff_cache \
        -cf - . | tar -C "$1" -xf -
}

# ---------------------------------------------------------------- local reference
STAGE="local reference run"
REF=""
if [ -d "$REPO/results/eval" ] && (cd "$REPO" && "$SNAKEMAKE" -n "${TARGETS[@]}" "${CONFIG_ARGS[@]}" \
        > "$WORK/local-dryrun.log" 2>&1) && grep -q "Nothing to be done" "$WORK/local-dryrun.log"; then
    REF="$REPO"
    log "reusing the up-to-date local results in $REPO/results"
else
    REF="$WORK/local-run"
    log "no up-to-date local results in $REPO/results: running the targets locally in $REF" \
        "(in the background, alongside the SLURM run)"
    copy_checkout "$REF"
    (cd "$REF" && exec setsid timeout "$(remaining_s)" "$SNAKEMAKE" --cores "$CPUS" "${TARGETS[@]}" "${CONFIG_ARGS[@]}") \
        > "$WORK/local-run.log" 2>&1 &
    LOCAL_PID=$!
fi

# ---------------------------------------------------------------- munge
STAGE="munge"
mkdir -p "$WORK/munge-etc" "$WORK/munge-run"
head -c 1024 /dev/urandom > "$WORK/munge-etc/munge.key"
chown -R munge:munge "$WORK/munge-etc" "$WORK/munge-run"
chmod 700 "$WORK/munge-etc"; chmod 400 "$WORK/munge-etc/munge.key"; chmod 755 "$WORK/munge-run"
MUNGE_SOCKET="$WORK/munge-run/munge.socket"
runuser -u munge -- "$MUNGED" --socket="$MUNGE_SOCKET" --key-file="$WORK/munge-etc/munge.key" \
    --pid-file="$WORK/munge-run/munged.pid" --log-file="$WORK/munge-etc/munged.log" \
    --seed-file="$WORK/munge-etc/munged.seed"
munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET" | grep -q "Success" \
    || die "munge -n | unmunge did not report Success"
log "munged running (pid $(cat "$WORK/munge-run/munged.pid"))"

# ---------------------------------------------------------------- slurm
STAGE="slurm daemons"
mkdir -p "$WORK/slurm/state" "$WORK/slurm/spool" "$WORK/slurm/log" /etc/slurm
if [ -e "$CONF" ]; then
    CONF_BACKUP="$WORK/slurm.conf.orig"
    cp -p "$CONF" "$CONF_BACKUP"
fi
# /etc/slurm/slurm.conf (not SLURM_CONF): the jobstep plugin drops SLURM_* from
# the environment before it calls srun inside a job.
cat > "$CONF" <<EOF
# rsnn-decoding slurm test: temporary single-node cluster (removed when the test ends)
ClusterName=rsnntest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$WORK/slurm/state
SlurmdSpoolDir=$WORK/slurm/spool
SlurmctldPidFile=$WORK/slurm/slurmctld.pid
SlurmdPidFile=$WORK/slurm/slurmd.pid
SlurmctldLogFile=$WORK/slurm/log/slurmctld.log
SlurmdLogFile=$WORK/slurm/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
"$SLURMCTLD" -f "$CONF"
"$SLURMD" -f "$CONF"
for _ in $(seq 60); do
    [ "$(sinfo --noheader -o %T 2>/dev/null | head -n 1)" = "idle" ] && break
    sleep 0.5
done
[ "$(sinfo --noheader -o %T | head -n 1)" = "idle" ] || { sinfo; die "node $NODE did not become idle"; }
log "SLURM up: node $NODE, CPUs=$CPUS, RealMemory=$MEM MB (slurmctld pid $(cat "$WORK/slurm/slurmctld.pid"), slurmd pid $(cat "$WORK/slurm/slurmd.pid"))"
sinfo

# ---------------------------------------------------------------- SLURM run
STAGE="SLURM run"
RUN="$WORK/slurm-run"
copy_checkout "$RUN"
log "running the targets through SLURM in $RUN:"
echo "  snakemake ${TARGETS[*]} ${CONFIG_ARGS[*]} --profile profiles/slurm" \
    "--slurm-init-seconds-before-status-checks 3 --max-threads $CPUS"
set +e
(cd "$RUN" && timeout "$(remaining_s)" "$SNAKEMAKE" "${TARGETS[@]}" "${CONFIG_ARGS[@]}" \
    --profile profiles/slurm --slurm-init-seconds-before-status-checks 3 \
    --max-threads "$CPUS") > "$WORK/slurm-run.log" 2>&1
SM_RC=$?
set -e
if [ "$SM_RC" -ne 0 ]; then
    tail -n 60 "$WORK/slurm-run.log"
    for f in $(find "$RUN/.snakemake/slurm_logs" -name '*.log' 2>/dev/null | head -n 3); do
        echo "--- $f"; tail -n 20 "$f"
    done
    [ "$SM_RC" -eq 124 ] && die "snakemake with profiles/slurm did not finish within the ${BUDGET_S} s budget"
    die "snakemake with profiles/slurm failed (exit $SM_RC)"
fi
log "SLURM run finished"

if [ -n "$LOCAL_PID" ]; then
    STAGE="local reference run"
    log "waiting for the local reference run (pid $LOCAL_PID)"
    if ! wait "$LOCAL_PID"; then
        LOCAL_PID=""
        tail -n 40 "$WORK/local-run.log"
        die "local reference run failed"
    fi
    LOCAL_PID=""
    log "local reference run done"
fi

# ---------------------------------------------------------------- checks
STAGE="job checks"
echo "squeue (all jobs of this cluster):"
squeue --states=all --format='%.6i %.10T %.12M %R %k' | sed 's/^/  /'
"$PY" - "$WORK/slurm-run.log" "$RUN" <<'PYCHECK'
"""Every non-local job ran as a completed SLURM job of this run; print rule -> SLURM job id."""
import re
import subprocess
import sys
from pathlib import Path

log_text = Path(sys.argv[1]).read_text()
run_dir = Path(sys.argv[2])
run_id = re.search(r"SLURM run ID: (\S+)", log_text).group(1)
jobs, subs, current, skip = {}, {}, None, 0
for line in log_text.splitlines():
    # skip the job logs Snakemake dumps after a failure (show-failed-logs):
    # "Logfile <path>:", a line of '=', the log text, a line of '='
    if line.startswith("Logfile ") and line.endswith(":"):
        skip, current = 1, None
        continue
    if skip:
        if re.fullmatch(r"={40,}", line):
            skip = (skip + 1) % 3
        continue
    if m := re.match(r"^(localrule|rule) (\w+):$", line):
        current = [m.group(1) == "localrule", m.group(2), ""]
    elif current and (m := re.match(r"^\s+wildcards: (.*)$", line)):
        current[2] = m.group(1)
    elif current and (m := re.match(r"^\s+jobid: (\d+)$", line)):
        jobs[int(m.group(1))] = current  # wildcards follow the jobid line
    elif m := re.match(r"^Job (\d+) has been submitted with SLURM jobid (\S+) \(log: (.+)\)\.$", line):
        subs.setdefault(int(m.group(1)), []).append((m.group(2), Path(m.group(3))))
        current = None
    elif not line.startswith(" "):
        current = None

queue = {}
out = subprocess.run(["squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%T"],
                     check=True, capture_output=True, text=True).stdout
for row in out.split():
    jid, state = row.split("|")
    queue[jid] = state

problems, remote_rules, local_rules = [], set(), set()
print(f"SLURM run ID {run_id}: {len(jobs)} Snakemake jobs, {len(queue)} SLURM jobs of this run in squeue")
print(f"  {'rule':17s} {'wildcards':46s} {'SLURM id':>8s}  {'state':10s} node  TRES")
def order(jobid: int) -> tuple:
    """Remote jobs by SLURM job id, then local jobs by rule."""
    sid = subs.get(jobid, [("", None)])[-1][0]
    return (0, int(sid), "") if sid.isdigit() else (1, 0, jobs[jobid][1] + jobs[jobid][2])


for jobid in sorted(jobs, key=order):
    local, rule, wildcards = jobs[jobid]
    if local:
        local_rules.add(rule)
        if jobid in subs:
            problems.append(f"local job {rule} {wildcards} was submitted to SLURM")
        print(f"  {rule:17s} {wildcards:46s} {'-':>8s}  {'local':10s} (localrules)")
        continue
    remote_rules.add(rule)
    if jobid not in subs:
        problems.append(f"{rule} {wildcards}: no SLURM submission")
        continue
    sid, logfile = subs[jobid][-1]
    info = subprocess.run(["scontrol", "-o", "show", "job", sid], capture_output=True, text=True).stdout
    fields = dict(kv.split("=", 1) for kv in re.findall(r"(\w+=\S*)", info))
    state = fields.get("JobState", "?")
    print(f"  {rule:17s} {wildcards:46s} {sid:>8s}  {state:10s} {fields.get('NodeList', '?')}  "
          f"{fields.get('TRES', '?')}")
    if state != "COMPLETED" or queue.get(sid) != "COMPLETED" or fields.get("ExitCode") != "0:0":
        problems.append(f"{rule} {wildcards}: SLURM job {sid} state {state}/{queue.get(sid)} "
                        f"exit {fields.get('ExitCode')}")
    if fields.get("JobName") != run_id or not fields.get("Comment", "").startswith(f"rule_{rule}"):
        problems.append(f"{rule}: SLURM job {sid} is not this run's job of rule {rule}: {info.strip()}")
    if "gpu" in info.lower():
        problems.append(f"{rule}: SLURM job {sid} requested a GPU although train_gpus=0: {info.strip()}")
    if not logfile.is_file():
        problems.append(f"{rule}: SLURM log {logfile} missing")
    else:
        text = logfile.read_text(errors="replace")
        if f"rule {rule}:" not in text or "1 of 1 steps (100%) done" not in text:
            problems.append(f"{rule}: SLURM log {logfile} does not show the job finishing")
    if len(subs[jobid]) > 1:
        earlier = ", ".join(s for s, _ in subs[jobid][:-1])
        print(f"  {'':17s} (earlier attempts: SLURM jobs {earlier})")
logs = sorted(p.relative_to(run_dir) for p in (run_dir / ".snakemake/slurm_logs").rglob("*.log"))
print(f"{len(logs)} per-job SLURM logs kept under .snakemake/slurm_logs/, e.g. {logs[0] if logs else '-'}")
print(f"rules run as SLURM jobs: {', '.join(sorted(remote_rules))}")
print(f"local rules (Snakefile localrules): {', '.join(sorted(local_rules)) or '-'}")
if not any("requested a GPU" in p for p in problems):
    print("GPU requests: none in any job (train_gpus=0)")
for needed in ("pretrain", "finetune", "evaluate"):
    if needed not in remote_rules:
        problems.append(f"rule {needed} did not run as a SLURM job")
for p in problems:
    print(f"job check failed: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PYCHECK

STAGE="metric comparison"
log "comparing metrics with the local run ($REF) to $TOL"
"$PY" "$HERE/compare_metrics.py" "$REF" "$RUN" --tol "$TOL"
STAGE="done"
