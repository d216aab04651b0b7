#!/usr/bin/env bash
# The paper's Table 1 rows for one model size, one after the other: NFT, RFT, DAPO, GRPO, Dr.GRPO.
#
#   SIZE=7B bash recipes/run_baselines.sh                  # all five, one node
#   SIZE=32B ALGOS="nft dapo rft" NNODES=4 SUBMIT=1 bash recipes/run_baselines.sh
#   DRY_RUN=1 bash recipes/run_baselines.sh                # validate all five configs
#
# Extra arguments are Hydra overrides passed to every run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${SIZE:-7B}
case "$SIZE" in
  7B) script=$ROOT/train_7B.sh ;;
  32B) script=$ROOT/train_32B.sh ;;
  32B-megatron) script=$ROOT/recipes/train_32B_megatron.sh ;;
  *) echo "error: SIZE=$SIZE is not 7B, 32B or 32B-megatron" >&2; exit 2 ;;
esac
for algo in ${ALGOS:-nft rft dapo grpo drgrpo}; do
  echo "=== $SIZE $algo"
  # each run in its own shell: the scripts exec the trainer
  env -u NEG_WEIGHT -u NORMALIZE ALGO="$algo" bash "$script" "$@"
done
