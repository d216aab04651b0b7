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
# imports verl (verl/__init__.py); the job's runtime env (recipes/common.sh) sets it again.
#
# Env: RAY (ray executable, default: ray), RAY_PORT (6379), DASHBOARD_PORT (8265), GPUS_PER_NODE (all
# visible GPUs), NUM_CPUS (all), HEAD_IP (workers), RAY_TMPDIR (optional --temp-dir).
set -euo pipefail
RAY=${RAY:-ray}
RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
export VERL_USE_EXTERNAL_MODULES=${VERL_USE_EXTERNAL_MODULES:-nft.register}
export TOKENIZERS_PARALLELISM=${TOKENIZERS_PARALLELISM:-true}

opts=()
[[ -n "${GPUS_PER_NODE:-}" ]] && opts+=(--num-gpus "$GPUS_PER_NODE")
[[ -n "${NUM_CPUS:-}" ]] && opts+=(--num-cpus "$NUM_CPUS")
[[ -n "${RAY_TMPDIR:-}" ]] && opts+=(--temp-dir "$RAY_TMPDIR")

case "${1:-}" in
  head)
    "$RAY" start --head --port "$RAY_PORT" --dashboard-host 0.0.0.0 --dashboard-port "$DASHBOARD_PORT" "${opts[@]}"
    echo "head started; workers: HEAD_IP=$(hostname -I 2>/dev/null | awk '{print $1}') bash recipes/ray_cluster.sh worker"
    ;;
  worker)
    [[ -n "${HEAD_IP:-}" ]] || { echo "error: set HEAD_IP to the head node's address" >&2; exit 2; }
    "$RAY" start --address "$HEAD_IP:$RAY_PORT" "${opts[@]}"
    ;;
  status) "$RAY" status ;;
  stop)   "$RAY" stop ;;  # stops the Ray processes of this node only
  *) echo "usage: bash recipes/ray_cluster.sh head|worker|status|stop" >&2; exit 2 ;;
esac
