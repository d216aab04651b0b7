#!/usr/bin/env bash
# NFT on Qwen2.5-32B with verl's Megatron-Core engine (model_engine=megatron) instead of FSDP: same paper
# settings as train_32B.sh; the actor runs tensor parallel 8 x pipeline parallel 2 (context parallel
# CP, default 1) with the distributed optimizer and parameter/optimizer offload; HF weights load
# through mbridge. The NFT loss is engine independent (verl/workers/utils/losses.py::ppo_loss).
#
#   NNODES=4 SUBMIT=1 bash recipes/train_32B_megatron.sh
#   DRY_RUN=1 bash recipes/train_32B_megatron.sh
#
# Knobs as train_32B.sh plus MEGATRON_TP, MEGATRON_PP, MEGATRON_CP. Megatron-Core (and mbridge) must be
# installed on the cluster (verl's megatron extra); the dry run does not need them.
set -euo pipefail
SIZE_NAME=${SIZE_NAME:-qwen2.5-32b-megatron}
MODEL_PATH=${MODEL_PATH:-$PWD/models/Qwen2.5-32B}
NNODES=${NNODES:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
TRAIN_BATCH=${TRAIN_BATCH:-512}
N_ANSWERS=${N_ANSWERS:-16}
MINI_BATCH=${MINI_BATCH:-32}
MAX_PROMPT_LEN=${MAX_PROMPT_LEN:-2048}
MAX_RESPONSE_LEN=${MAX_RESPONSE_LEN:-14336}
ROLLOUT_TP=${ROLLOUT_TP:-4}
SP=1
MEGATRON_TP=${MEGATRON_TP:-8}
MEGATRON_PP=${MEGATRON_PP:-2}
MEGATRON_CP=${MEGATRON_CP:-1}
GPU_MEM=${GPU_MEM:-0.7}
TOTAL_STEPS=${TOTAL_STEPS:-320}
GEN_BATCHES_INFLIGHT=${GEN_BATCHES_INFLIGHT:-3}
MAX_GEN_BATCHES=${MAX_GEN_BATCHES:-10}
PAPER_VAL_TEMPERATURE=0.6  # VAL_TEMPERATURE overrides; PRESET=authors: 0.6
# PRESET=authors: the authors' train_32B.sh and their loss scale at their DP size (16 x 8 GPUs / SP 8)
AUTHORS_SCRIPT=train_32B.sh
AUTHORS_DP_SIZE=${AUTHORS_DP_SIZE:-16}
OFFLOAD=${OFFLOAD:-true}
ENGINE=megatron
# packing budget per GPU: tokens of one TP x PP x CP model replica's micro-batch
ACTOR_TOKENS=${ACTOR_TOKENS:-$(( (MAX_PROMPT_LEN + MAX_RESPONSE_LEN) * 2 ))}
INFER_TOKENS=${INFER_TOKENS:-$(( (MAX_PROMPT_LEN + MAX_RESPONSE_LEN) * 3 ))}
SIZE_ARGS=(
  model_engine=megatron
  actor_rollout_ref.actor.megatron.tensor_model_parallel_size="$MEGATRON_TP"
  actor_rollout_ref.actor.megatron.pipeline_model_parallel_size="$MEGATRON_PP"
  actor_rollout_ref.actor.megatron.context_parallel_size="$MEGATRON_CP"
  actor_rollout_ref.actor.megatron.sequence_parallel=true
  actor_rollout_ref.actor.megatron.use_distributed_optimizer=true
  actor_rollout_ref.actor.megatron.param_offload="$OFFLOAD"
  actor_rollout_ref.actor.megatron.optimizer_offload="$OFFLOAD"
  actor_rollout_ref.actor.megatron.use_mbridge=true
)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/recipes/common.sh"
nft_launch "$@"
