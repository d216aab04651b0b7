#!/usr/bin/env bash
# Start (or stop) the Ray cluster a multi-node run is submitted to. Run on every node, head first:
#
#   node 0:      bash recipes/ray_cluster.sh head
#   nodes 1..N:  HEAD_IP=<node-0 address> bash recipes/ray_cluster.sh worker
#   node 0:      NNODES=4 SUBMIT=1 bash train_7B.sh     # ray job submit to http://127.0.0.1:8265
#   any node:    bash recipes/ray_cluster.sh status | stop
#
# Every node needs the same Python environment (verl 0.9.1 + this package installed) and the same
# paths for the model and data (a shared file system), as usual for verl. VERL_USE_EXTERNAL_MODULES is
# exported before `ray start`, so every Ray worker process on the node imports nft.register when it
# imports verl (verl/__init__.py); the job's runtime env (recipes/launch.sh) sets it again.
#
# Ray 2.60 turns token authentication on by default: the head keeps its token in ~/.ray/auth_token,
# and a worker must present the same one (copy that file to every node, or export RAY_AUTH_TOKEN=<token>
# with RAY_AUTH_MODE=token on every node and where you submit). RAY_AUTH_MODE=disabled opts out.
#
# Env: RAY (ray executable, default: ray), RAY_PORT (6379), DASHBOARD_PORT (8265), DASHBOARD_HOST
# (0.0.0.0), NODE_IP (--node-ip-address; default: Ray's choice), GPUS_PER_NODE (all visible GPUs),
# NUM_CPUS (all), HEAD_IP (workers), RAY_TMPDIR (--temp-dir; with it, `stop` stops only the Ray
# processes started with that RAY_TMPDIR, see below). Arguments after head|worker|status go to the
# `ray` command unchanged (e.g. --dashboard-agent-listen-port 52366).
#
# stop: without RAY_TMPDIR, `ray stop`, which stops EVERY Ray process of this machine (on a cluster
# node that is this node's Ray). With RAY_TMPDIR, only the processes of the cluster started with that
# RAY_TMPDIR: `head`/`worker` mark their `ray start` with NFT_RAY_TMPDIR=<that dir>, which every Ray
# process (GCS, raylet, dashboard, workers, job drivers, vLLM engine processes) inherits; `stop`
# stops them and their descendants in `ray stop`'s order (raylets, the rest, GCS: SIGTERM, then SIGKILL
# after a third of STOP_GRACE_S (15) seconds each) and removes the /dev/shm segments they had mapped,
# and the vLLM/verl/multiprocessing segments (psm_*, verl_weights_*, sem.mp-*) written since that node
# started which no process holds any more (those of a job's vLLM processes, ended by verl).
# Several "nodes" on one machine sharing one RAY_TMPDIR are stopped together (docs/cluster.md, "Two
# nodes on one machine (CPU)").
set -euo pipefail
RAY=${RAY:-ray}
RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
export VERL_USE_EXTERNAL_MODULES=${VERL_USE_EXTERNAL_MODULES:-nft.register}
export TOKENIZERS_PARALLELISM=${TOKENIZERS_PARALLELISM:-true}

cmd=${1:-}
[[ $# -gt 0 ]] && shift

opts=()
[[ -n "${GPUS_PER_NODE:-}" ]] && opts+=(--num-gpus "$GPUS_PER_NODE")
[[ -n "${NUM_CPUS:-}" ]] && opts+=(--num-cpus "$NUM_CPUS")
[[ -n "${NODE_IP:-}" ]] && opts+=(--node-ip-address "$NODE_IP")
if [[ "${NODE_IP:-}" == 127.0.0.1 || "${NODE_IP:-}" == localhost ]]; then
  # ray/_private/services.py::resolve_ip_for_localhost; the rest of 127.0.0.0/8 is used as given
  echo "note: Ray replaces NODE_IP=$NODE_IP by this machine's interface address; for a loopback-only" \
       "cluster on one machine use e.g. 127.0.0.2 (head) and 127.0.0.3 (worker)" >&2
fi
if [[ -n "${RAY_TMPDIR:-}" ]]; then
  [[ "$cmd" == head || "$cmd" == worker ]] && mkdir -p "$RAY_TMPDIR"
  [[ -d "$RAY_TMPDIR" ]] && RAY_TMPDIR=$(cd "$RAY_TMPDIR" && pwd -P)  # the marker holds the real path
  export RAY_TMPDIR
  opts+=(--temp-dir "$RAY_TMPDIR")
fi

# Live (non-zombie) processes, one "pid ppid comm" line each.
proc_table() {
  local f s pid rest c
  for f in /proc/[0-9]*/stat; do
    { read -r s < "$f"; } 2>/dev/null || continue
    pid=${s%% *}; c=${s#*(}; c=${c%)*}; rest=${s##*) }
    set -- $rest  # $1 state, $2 ppid
    [[ "$1" == Z ]] || echo "$pid $2 $c"
  done
}

# PIDs of this cluster's processes: those marked NFT_RAY_TMPDIR=$RAY_TMPDIR and their descendants,
# never this script or its ancestors. With "comm", "pid comm" lines.
cluster_pids() {
  local -A parent=() name=() in=()
  local pid pp c f me=" " changed=1
  while read -r pid pp c; do parent[$pid]=$pp; name[$pid]=$c; done < <(proc_table)
  pid=$BASHPID
  while [[ -n "$pid" && "$pid" != 0 ]]; do me+="$pid "; pid=${parent[$pid]:-}; done
  # grep -z: environ entries are NUL-separated; -x: the whole entry
  for f in $(grep -lzxF "NFT_RAY_TMPDIR=$RAY_TMPDIR" /proc/[0-9]*/environ 2>/dev/null || true); do
    pid=${f#/proc/}; pid=${pid%/environ}
    [[ -n "${parent[$pid]:-}" ]] && in[$pid]=1
  done
  while ((changed)); do
    changed=0
    for pid in "${!parent[@]}"; do
      if [[ -z "${in[$pid]:-}" && -n "${in[${parent[$pid]}]:-}" ]]; then in[$pid]=1; changed=1; fi
    done
  done
  for pid in "${!in[@]}"; do
    [[ "$me" == *" $pid "* ]] && continue
    if [[ "${1:-}" == comm ]]; then echo "$pid ${name[$pid]}"; else echo "$pid"; fi
  done
}

alive() {  # any of the given PIDs still running (zombies do not count)
  local pid st
  for pid in "$@"; do
    { read -r st < "/proc/$pid/stat"; } 2>/dev/null || continue
    st=${st##*) }; [[ "${st%% *}" == Z ]] || return 0
  done
  return 1
}

# TERM, wait up to $1 seconds, then KILL, for the PIDs given after it.
term_then_kill() {
  local wait_s=$1 n=0 pid left=(); shift
  [[ $# -gt 0 ]] || return 0
  kill -TERM "$@" 2>/dev/null || true
  while alive "$@" && [[ $n -lt $((wait_s * 4)) ]]; do sleep 0.25; n=$((n + 1)); done
  for pid in "$@"; do alive "$pid" && left+=("$pid"); done
  if [[ ${#left[@]} -gt 0 ]]; then
    echo "SIGKILL to ${#left[@]} process(es) still running after ${wait_s} s:" \
      "$(for pid in "${left[@]}"; do printf '%s %s; ' "$pid" "$(cut -c1-60 "/proc/$pid/comm" 2>/dev/null)"; done)"
    kill -KILL "${left[@]}" 2>/dev/null || true
    n=0
    while alive "${left[@]}" && [[ $n -lt 40 ]]; do sleep 0.25; n=$((n + 1)); done
  fi
}

stop_cluster() {
  [[ -d /proc/self ]] || { echo "error: stopping one cluster by RAY_TMPDIR needs /proc (Linux); use 'ray stop'" >&2; exit 2; }
  local pid c f all=() raylets=() gcs=() others=() shm=() grace=${STOP_GRACE_S:-15}
  while read -r pid c; do
    all+=("$pid")
    case "$c" in raylet) raylets+=("$pid") ;; gcs_server) gcs+=("$pid") ;; *) others+=("$pid") ;; esac
  done < <(cluster_pids comm)
  if [[ ${#all[@]} -eq 0 ]]; then
    echo "no Ray process of RAY_TMPDIR=$RAY_TMPDIR is running"
    return 0
  fi
  for pid in "${all[@]}"; do  # shared-memory segments to remove once their processes are gone
    while read -r f; do shm+=("$f"); done < <(awk '$6 ~ /^\/dev\/shm\// && $7 == "" {print $6}' "/proc/$pid/maps" 2>/dev/null)
  done
  # As `ray stop` does: raylets first, then the rest (workers, agents, dashboard, drivers), GCS last.
  term_then_kill $(((grace + 2) / 3)) "${raylets[@]}"
  term_then_kill $(((grace + 2) / 3)) "${others[@]}"
  term_then_kill $(((grace + 2) / 3)) "${gcs[@]}"
  mapfile -t left < <(cluster_pids)  # anything started meanwhile
  term_then_kill 2 "${left[@]}"
  local removed=0
  for f in $(printf '%s\n' "${shm[@]}" | sort -u); do
    if [[ -e "$f" ]]; then rm -f -- "$f" && removed=$((removed + 1)); fi
  done
  # vLLM's ring buffers (psm_*) outlive their processes when verl ends its actors at the end of a job;
  # remove those written since this node started that no process holds (open or mapped) any more.
  local since held ino mtime
  if [[ -f "$RAY_TMPDIR/nft_started_at" ]]; then
    since=$(< "$RAY_TMPDIR/nft_started_at")
    # held = the inodes mapped or open under /dev/shm (by inode: glibc maps a semaphore sem.<name> under
    # a temporary name that it deletes at once)
    held=" $( { cat /proc/[0-9]*/maps 2>/dev/null | awk '$6 ~ /^\/dev\/shm\// {print $5}'
               find /proc/[0-9]*/fd -lname '/dev/shm/*' -printf '%l\n' 2>/dev/null | xargs -r stat -c %i 2>/dev/null
             } | sort -u | tr '\n' ' ' || true) "
    for f in /dev/shm/psm_* /dev/shm/verl_weights_* /dev/shm/sem.mp-*; do
      [[ -f "$f" ]] || continue
      read -r ino mtime < <(stat -c '%i %Y' "$f" 2>/dev/null || echo "0 0")
      [[ $mtime -ge $since && $(( $(date +%s) - mtime )) -ge 2 && "$held" != *" $ino "* ]] || continue
      rm -f -- "$f" && removed=$((removed + 1))
    done
  fi
  mapfile -t left < <(cluster_pids)
  if [[ ${#left[@]} -gt 0 ]]; then
    echo "error: ${#left[@]} process(es) of RAY_TMPDIR=$RAY_TMPDIR still alive: ${left[*]}" >&2
    exit 1
  fi
  echo "stopped ${#all[@]} process(es) of RAY_TMPDIR=$RAY_TMPDIR; removed $removed /dev/shm segment(s)"
}

# Mark what `ray start` starts, so that `stop` can find exactly this cluster's processes.
mark() {
  if [[ -n "${RAY_TMPDIR:-}" ]]; then
    export NFT_RAY_TMPDIR=$RAY_TMPDIR
    [[ -f "$RAY_TMPDIR/nft_started_at" ]] || date +%s > "$RAY_TMPDIR/nft_started_at"
  fi
}

case "$cmd" in
  head)
    mark
    "$RAY" start --head --port "$RAY_PORT" --dashboard-host "${DASHBOARD_HOST:-0.0.0.0}" \
      --dashboard-port "$DASHBOARD_PORT" "${opts[@]}" "$@"
    echo "head started; workers: HEAD_IP=${NODE_IP:-$(hostname -I 2>/dev/null | awk '{print $1}')} bash recipes/ray_cluster.sh worker"
    ;;
  worker)
    [[ -n "${HEAD_IP:-}" ]] || { echo "error: set HEAD_IP to the head node's address" >&2; exit 2; }
    mark
    "$RAY" start --address "$HEAD_IP:$RAY_PORT" "${opts[@]}" "$@"
    ;;
  status)
    addr=()
    [[ -n "${HEAD_IP:-}" ]] && addr=(--address "$HEAD_IP:$RAY_PORT")
    "$RAY" status "${addr[@]}" "$@"
    ;;
  stop)
    if [[ -n "${RAY_TMPDIR:-}" ]]; then
      stop_cluster
    else
      "$RAY" stop  # every Ray process of this machine
    fi
    ;;
  *) echo "usage: bash recipes/ray_cluster.sh head|worker|status|stop [ray start/status arguments]" >&2; exit 2 ;;
esac
