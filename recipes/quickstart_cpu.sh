#!/usr/bin/env bash
# NFT on a laptop CPU, through verl 0.9.1's real training loop (Ray, agent loop, verl's vLLM rollout, reward
# loop, FSDP2 actor, weight sync, validation, checkpoint), on a tiny model and a toy task, in a few minutes.
#
#   bash recipes/quickstart_cpu.sh [hydra overrides...]
#
# Builds (once) a tiny random Qwen2 with a short supervised warm start (right about 40% of the time) and the
# toy task's parquet files (python -m nft.local.toy_task build), then runs
# `python -m nft.main model=tiny-cpu preset=quickstart` (recipes/config/model/tiny-cpu.yaml, preset/quickstart.yaml) through
# nft.local.progress, which prints one line per step from verl's file logger and ends with
#   quickstart: setup <seconds> s, training <seconds> s
#   quickstart: accuracy <before> -> <after> in <seconds> s
# (validation accuracy on the toy task before and after training; seconds of the whole script).
#
# Knobs (environment variables):
#   ALGO, NEG_WEIGHT, NORMALIZE, BYPASS, TRAINER_MODE   as in recipes/launch.sh (TRAINER_MODE=separate_async adds
#                 a standalone rollout on a second logical GPU, synced by the nft_tcp checkpoint engine)
#   STEPS         training steps (default 20)      SEED      run seed (default 1)
#   QUICKSTART_DIR  model, data, logs and checkpoints (default <repo>/outputs/quickstart)
#   RAY_NUM_CPUS  logical CPUs given to Ray (default 16)
#   RESUME_MODE   disable (default) | auto (continue from the run's last checkpoint)
#   FILTER_GROUPS 1: DAPO dynamic sampling (off here: the toy task saturates)
#   VERBOSE=1     echo verl's full log (always written to $QUICKSTART_DIR/<run>/train.log)
#   PYTHON        interpreter with verl + nft (default: <repo>/.venv, made by recipes/setup_cpu.sh if missing)
# Extra arguments are Hydra overrides appended last (they win).
# The whole script is one function, read by bash before it runs (editing it mid-run is harmless).
main() {
set -euo pipefail
T0=$(date +%s.%N)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  # No interpreter given: use (and, on a fresh machine, create) the repository's CPU environment.
  bash "$ROOT/recipes/setup_cpu.sh"
  PYTHON="${NFT_VENV:-$ROOT/.venv}/bin/python"
fi
# shellcheck source=recipes/launch.sh
source "$ROOT/recipes/launch.sh"
"$PYTHON" -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('verl') and u.find_spec('nft')))" 2>/dev/null \
  || nft_die "$PYTHON cannot import verl and nft: run 'bash recipes/setup_cpu.sh' first, or set PYTHON"

STEPS=${STEPS:-20} SEED=${SEED:-1}
[[ "$STEPS" =~ ^[0-9]+$ && "$STEPS" -ge 1 ]] || nft_die "STEPS=$STEPS must be a positive integer"
[[ "$SEED" =~ ^[0-9]+$ ]] || nft_die "SEED=$SEED must be a non-negative integer"
QUICKSTART_DIR=$(nft_abspath "${QUICKSTART_DIR:-$ROOT/outputs/quickstart}")
TOY="$QUICKSTART_DIR/toy"
if [[ ! -f "$TOY/model/model.safetensors" || ! -f "$TOY/data/train.parquet" || ! -f "$TOY/data/val.parquet" ]]; then
  echo "quickstart: building the tiny model and the toy task in $TOY"
  "$PYTHON" -m nft.local.toy_task build "$TOY"
fi

nft_algo_args
RUN_NAME=${RUN_NAME:-${ALGO}-seed${SEED}}
RUN_DIR="$QUICKSTART_DIR/$RUN_NAME"
mkdir -p "$RUN_DIR"

# Every verl process (driver, Ray workers) imports nft.local.plugin at `import verl`: the CPU platform
# (VERL_PLATFORM=cpu, with verl's vLLM rollout adapted to it). Ray workers inherit this environment.
export VERL_PLATFORM=cpu
export VERL_USE_EXTERNAL_MODULES=nft.local.plugin${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}
export TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export RAY_DEDUP_LOGS=0 HYDRA_FULL_ERROR=1 WANDB_MODE=disabled
export VERL_FILE_LOGGER_PATH="$RUN_DIR/metrics.jsonl"  # verl's file logger: one JSON record per step
unset RAY_ADDRESS  # always a private, local Ray instance
# Ray would pre-start one idle Python worker per logical CPU (16 here) on a 2-core machine.
export RAY_prestart_worker_first_driver=${RAY_prestart_worker_first_driver:-0}
export RAY_enable_worker_prestart=${RAY_enable_worker_prestart:-0}

RUN_ARGS=(
  "data.train_files=$TOY/data/train.parquet" "data.val_files=$TOY/data/val.parquet" "data.seed=$SEED"
  "actor_rollout_ref.model.path=$TOY/model"
  "actor_rollout_ref.actor.data_loader_seed=$SEED" "actor_rollout_ref.rollout.seed=$SEED"
  "trainer.total_training_steps=$STEPS" "trainer.test_freq=$STEPS" "trainer.save_freq=$STEPS"
  "trainer.resume_mode=${RESUME_MODE:-disable}" "trainer.experiment_name=$RUN_NAME"
  "trainer.default_local_dir=$RUN_DIR/checkpoints"
  "hydra.run.dir=$RUN_DIR/hydra"  # not ./outputs/<date>/<time> of the current directory
  "ray_kwargs.ray_init.num_cpus=${RAY_NUM_CPUS:-16}"
)
[[ "${FILTER_GROUPS:-0}" == 1 ]] && RUN_ARGS+=(algorithm.filter_groups.enable=true)
# TRAINER_MODE=separate_async: verl's standalone rollout replica gets a logical GPU of its own, and the
# actor's weights reach it through the CPU platform's checkpoint engine (nft/local/tcp_checkpoint_engine.py;
# verl refuses 'naive' there and its other engines need GPU transports). One update per step by default
# (parameter_sync_step x ppo_mini_batch_size must equal train_batch_size: override both together).
if [[ "${TRAINER_MODE:-sync}" == separate_async ]]; then
  RUN_ARGS+=(
    ray_kwargs.ray_init.num_gpus=2
    actor_rollout_ref.rollout.nnodes=1 actor_rollout_ref.rollout.n_gpus_per_node=1
    trainer.v1.separate_async.parameter_sync_step=1
    actor_rollout_ref.rollout.checkpoint_engine.backend=nft_tcp
    actor_rollout_ref.rollout.checkpoint_engine.custom_backend_module=nft.local.tcp_checkpoint_engine
  )
fi

SETUP_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
echo "quickstart: ALGO=$ALGO SEED=$SEED STEPS=$STEPS -> $RUN_DIR (full log: $RUN_DIR/train.log)"
set +e
"$PYTHON" -m nft.local.progress --metrics "$VERL_FILE_LOGGER_PATH" --log "$RUN_DIR/train.log" --total "$STEPS" \
  --start "$T0" --setup-s "$SETUP_S" ${VERBOSE:+--echo} -- \
  "$PYTHON" -m nft.main "--config-path=$ROOT/recipes/config" model=tiny-cpu preset=quickstart "${RUN_ARGS[@]}" "${ARGS[@]}" "$@"
status=$?
# vLLM's processes die without unlinking their shared-memory ring buffers: remove this run's orphans.
"$PYTHON" -m nft.shm --since "$T0" --min-age 2 >/dev/null || true
set -e
if [[ "$status" != "0" ]]; then
  tail -n 30 "$RUN_DIR/train.log" >&2
fi
exit "$status"
}
main "$@"
