# The launcher of train_7B.sh, train_32B.sh and recipes/train_32B_megatron.sh (sourced, not run): turns the
# environment variables below into `python -m nft.main model=<size> ...` arguments and runs it, locally or
# with `ray job submit`. Every setting lives in recipes/config/ (Hydra config groups); what a script adds
# here is sugar, and extra arguments are Hydra overrides appended last (they win).
#
#   ALGO           nft (default) | rft | dapo | grpo | drgrpo            -> algo=...
#   NEG_WEIGHT     NFT's lambda; -1 = the DAPO baseline (as in the authors' scripts)   NORMALIZE  0 | 1 | 2
#   PRESET         paper (default) | authors (the authors' scripts' settings; DRY_RUN=1 prints the table)
#   BYPASS=1       old log-probs := the rollout's;  TRAINER_MODE  sync | colocate_async | separate_async
#   LORA_RANK      > 0: a LoRA adapter (LORA_ALPHA, default 2 x rank; LORA_TARGETS, default all-linear; lr 1e-5)
#   NNODES, GPUS_PER_NODE, MODEL_PATH, DATA_DIR, TRAIN_FILE, VAL_FILES (comma list), CKPT_DIR, PROJECT, EXP_NAME
#   LOGGER         console (default) | file | wandb | tensorboard | mlflow | swanlab | trackio, comma-separated
#                  (file: verl's JSON lines at $VERL_FILE_LOGGER_PATH, else $VERL_FILE_LOGGER_ROOT/<project>/<exp>.jsonl)
#   SUBMIT=1       `ray job submit` to a running cluster (recipes/ray_cluster.sh): RAY_ADDRESS, RAY
#   DRY_RUN=1      compose, check and print the config; no Ray, no GPU      PRINT_ARGS=1  print the arguments
#   PYTHON         interpreter (default python3)
# Size settings (batch, lengths, parallelism, lr, ...) are Hydra keys: docs/cluster.md lists them.

PYTHON=${PYTHON:-python3}
NFT_ROOT=${NFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
nft_die() { echo "error: $*" >&2; exit 2; }

# Environment knobs of the bash recipes before recipes/config/, each with the Hydra key that replaced it.
nft_removed_knobs() {
  local kv k key
  for kv in TRAIN_BATCH=data.train_batch_size N_ANSWERS=actor_rollout_ref.rollout.n \
            MINI_BATCH=actor_rollout_ref.actor.ppo_mini_batch_size MAX_PROMPT_LEN=data.max_prompt_length \
            MAX_RESPONSE_LEN=data.max_response_length ROLLOUT_TP=actor_rollout_ref.rollout.tensor_model_parallel_size \
            SP=actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size \
            GPU_MEM=actor_rollout_ref.rollout.gpu_memory_utilization TOTAL_STEPS=trainer.total_training_steps \
            GEN_BATCHES_INFLIGHT=algorithm.filter_groups.max_inflight_gen_batches \
            MAX_GEN_BATCHES=algorithm.filter_groups.max_num_gen_batches \
            ACTOR_TOKENS=actor_rollout_ref.actor.ppo_max_token_len_per_gpu \
            INFER_TOKENS=actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu LR=actor_rollout_ref.actor.optim.lr \
            TEST_FREQ=trainer.test_freq SAVE_FREQ=trainer.save_freq VAL_BEFORE_TRAIN=trainer.val_before_train \
            VAL_TEMPERATURE=actor_rollout_ref.rollout.val_kwargs.temperature ROLLOUT_NAME=actor_rollout_ref.rollout.name \
            AUTHORS_DP_SIZE=actor_rollout_ref.actor.policy_loss.authors_dp_size \
            OFFLOAD=actor_rollout_ref.actor.fsdp_config.param_offload MEGATRON_TP=actor_rollout_ref.actor.megatron.tensor_model_parallel_size \
            MEGATRON_PP=actor_rollout_ref.actor.megatron.pipeline_model_parallel_size \
            MEGATRON_CP=actor_rollout_ref.actor.megatron.context_parallel_size; do
    k=${kv%%=*} key=${kv#*=}
    [[ -z "${!k:-}" ]] || nft_die "$k=${!k} is no longer read: pass the Hydra override $key=${!k} instead (docs/cluster.md)"
  done
}

nft_abspath() { case "$1" in /*|*://*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

# ARGS: algo=... and the NFT / off-policy knobs from ALGO, NEG_WEIGHT, NORMALIZE, BYPASS, TRAINER_MODE (also
# used by recipes/quickstart_cpu.sh); PRESET is validated here (its default depends on nothing else).
nft_algo_args() {
  ALGO=${ALGO:-}
  if [[ "${NEG_WEIGHT:-}" == "-1" || "${NEG_WEIGHT:-}" == "-1.0" ]]; then
    [[ -z "$ALGO" || "$ALGO" == "dapo" ]] || nft_die "NEG_WEIGHT=-1 means the DAPO baseline but ALGO=$ALGO; unset one of them"
    ALGO=dapo NEG_WEIGHT=
  fi
  ALGO=${ALGO:-nft} PRESET=${PRESET:-paper}
  case "$ALGO" in nft|rft|dapo|grpo|drgrpo) ;; *) nft_die "ALGO=$ALGO is not one of nft, rft, dapo, grpo, drgrpo" ;; esac
  case "$PRESET" in paper|authors) ;; *) nft_die "PRESET=$PRESET is not one of paper, authors" ;; esac
  if [[ "$ALGO" == rft && -n "${NEG_WEIGHT:-}" && ! "$NEG_WEIGHT" =~ ^0(\.0*)?$ ]]; then
    nft_die "ALGO=rft means neg_weight=0; got NEG_WEIGHT=$NEG_WEIGHT (use ALGO=nft for other values)"
  fi
  [[ "$ALGO" == nft || "$ALGO" == rft || -z "${NEG_WEIGHT:-}" ]] || nft_die "NEG_WEIGHT=$NEG_WEIGHT applies to ALGO=nft only (ALGO=$ALGO)"
  [[ "$ALGO" == nft || "$ALGO" == rft || -z "${NORMALIZE:-}" ]] || nft_die "NORMALIZE=$NORMALIZE applies to ALGO=nft/rft only (ALGO=$ALGO)"
  local pl=actor_rollout_ref.actor.policy_loss
  ARGS=("algo=$ALGO")
  [[ -n "${NEG_WEIGHT:-}" && "$ALGO" == nft ]] && ARGS+=("$pl.neg_weight=$NEG_WEIGHT")
  [[ -n "${NORMALIZE:-}" ]] && ARGS+=("$pl.normalize=$NORMALIZE")
  case "${BYPASS:-0}" in
    1|true) ARGS+=(algorithm.rollout_correction.bypass_mode=true actor_rollout_ref.rollout.calculate_log_probs=true) ;;
    0|false) ;; *) nft_die "BYPASS=$BYPASS must be 0 or 1" ;;
  esac
  case "${TRAINER_MODE:-sync}" in  # the generation cap is enforced in sync mode only (nft.checks)
    sync) ;; colocate_async|separate_async) ARGS+=("trainer.v1.trainer_mode=$TRAINER_MODE" algorithm.filter_groups.max_num_gen_batches=0) ;;
    *) nft_die "TRAINER_MODE=$TRAINER_MODE is not one of sync, colocate_async, separate_async" ;;
  esac
}

# ARGS: every nft.main argument from the environment (the experiment name from SIZE_NAME and the knobs).
nft_env_args() {
  nft_algo_args
  ARGS=("model=$SIZE_MODEL" "${ARGS[0]}" "preset=$PRESET" "${ARGS[@]:1}")
  LORA_RANK=${LORA_RANK:-0}
  [[ "$LORA_RANK" =~ ^[0-9]+$ ]] || nft_die "LORA_RANK=$LORA_RANK must be a non-negative integer"
  if [[ "$LORA_RANK" -gt 0 ]]; then
    [[ "$SIZE_MODEL" != *megatron* ]] || nft_die "LORA_RANK applies to the FSDP scripts (train_7B.sh, train_32B.sh); Megatron LoRA uses actor_rollout_ref.model.lora.*"
    # verl/workers/engine/fsdp/transformer_impl.py::_build_lora_module wraps the actor in a peft LoRA model
    ARGS+=(actor_rollout_ref.actor.optim.lr=1e-5 "actor_rollout_ref.model.lora_rank=$LORA_RANK"
           "actor_rollout_ref.model.lora_alpha=${LORA_ALPHA:-$((2 * LORA_RANK))}"
           "actor_rollout_ref.model.target_modules=${LORA_TARGETS:-all-linear}")
  fi
  [[ -z "${NNODES:-}" ]] || { [[ "$NNODES" =~ ^[1-9][0-9]*$ ]] || nft_die "NNODES=$NNODES must be a positive integer"; ARGS+=("trainer.nnodes=$NNODES"); }
  [[ -z "${GPUS_PER_NODE:-}" ]] || { [[ "$GPUS_PER_NODE" =~ ^[1-9][0-9]*$ ]] || nft_die "GPUS_PER_NODE=$GPUS_PER_NODE must be a positive integer"; ARGS+=("trainer.n_gpus_per_node=$GPUS_PER_NODE"); }
  [[ -z "${MODEL_PATH:-}" ]] || ARGS+=("actor_rollout_ref.model.path='$MODEL_PATH'")
  [[ -z "${DATA_DIR:-}" ]] || export NFT_DATA_DIR=$(nft_abspath "$DATA_DIR")
  [[ -z "${TRAIN_FILE:-}" ]] || ARGS+=("data.train_files='$TRAIN_FILE'")
  if [[ -n "${VAL_FILES:-}" ]]; then
    local f out=""
    IFS=',' read -r -a _vf <<< "$VAL_FILES"
    for f in "${_vf[@]}"; do out="${out:+$out,}'${f// /}'"; done
    ARGS+=("data.val_files=[$out]")
  fi
  local logger="console" x
  IFS=',' read -r -a _lg <<< "${LOGGER:-console}"
  for x in "${_lg[@]}"; do
    x=${x// /}
    case "$x" in console|"") ;; file|wandb|tensorboard|mlflow|swanlab|trackio) logger="$logger,$x" ;;
      *) nft_die "LOGGER=$LOGGER: unknown logger '$x' (console, file, wandb, tensorboard, mlflow, swanlab, trackio)" ;; esac
  done
  [[ "$logger" == console ]] || ARGS+=("trainer.logger=[$logger]")
  [[ -z "${PROJECT:-}" ]] || ARGS+=("trainer.project_name=$PROJECT")
  local tag=$ALGO
  [[ "$ALGO" == nft ]] && tag="nft-nw${NEG_WEIGHT:-1}-norm${NORMALIZE:-1}"
  [[ "$ALGO" == rft && -n "${NORMALIZE:-}" ]] && tag="rft-norm$NORMALIZE"
  [[ "$PRESET" == authors ]] && tag="$tag-authors"
  [[ "$LORA_RANK" -gt 0 ]] && tag="$tag-lora$LORA_RANK"
  EXP_NAME=${EXP_NAME:-$SIZE_NAME-$tag}
  ARGS+=("trainer.experiment_name=$EXP_NAME")
  [[ -z "${CKPT_DIR:-}" ]] || ARGS+=("trainer.default_local_dir='$(nft_abspath "$CKPT_DIR")/${PROJECT:-nft}/$EXP_NAME'")
}

# nft_launch SIZE_MODEL SIZE_NAME [hydra overrides...]
nft_launch() {
  SIZE_MODEL=$1 SIZE_NAME=$2
  shift 2
  nft_removed_knobs
  nft_env_args
  ARGS+=("$@")
  if [[ "${PRINT_ARGS:-0}" == "1" ]]; then printf '%s\n' "${ARGS[@]}"; return 0; fi
  local cmd=("$PYTHON" -m nft.main "--config-path=$NFT_ROOT/recipes/config" --config-name=nft_trainer "${ARGS[@]}")
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    echo "PRESET=$PRESET (paper | authors; the authors' values from github.com/NVlabs/NFT @ b358fae)"
    local theirs=train_32B  # the authors' script of this size
    [[ "$SIZE_MODEL" == qwen2.5-math-7b ]] && theirs=train_7B
    cat "$NFT_ROOT/recipes/config/preset/authors-vs-paper.$theirs.md"
    echo
  fi
  if [[ "${SUBMIT:-0}" == "1" ]]; then
    # Every Ray process imports our plugin: VERL_USE_EXTERNAL_MODULES is imported at `import verl`
    # (verl/__init__.py) in each worker; py_modules ships this checkout's nft package to every node. The
    # job's env_vars reach the driver and every Ray worker of the job (and what they spawn, e.g. vLLM's
    # engine processes): the submitting shell's VERL_USE_EXTERNAL_MODULES first (e.g. nft.local.plugin),
    # nft.register always, and VERL_PLATFORM, VLLM_CPU_*, NFT_CPU_*, NFT_DATA_DIR, VERL_FILE_LOGGER_* when set.
    local env_json
    env_json=$("$PYTHON" - "$NFT_ROOT" <<'PY'
import json, os, sys
mods = [m.strip() for m in os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",") if m.strip()]
mods += [] if "nft.register" in mods else ["nft.register"]
env = {"VERL_USE_EXTERNAL_MODULES": ",".join(mods), "TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN"}
keys = ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_MODE", "TENSORBOARD_DIR", "HF_ENDPOINT", "HF_HOME", "VLLM_USE_V1",
        "VERL_PLATFORM", "NFT_DATA_DIR", "VERL_FILE_LOGGER_PATH", "VERL_FILE_LOGGER_ROOT")
for k, v in sorted(os.environ.items()):
    if v and (k in keys or k.startswith(("VLLM_CPU_", "NFT_CPU_"))):
        env[k] = v
print(json.dumps({"env_vars": env, "py_modules": [os.path.join(sys.argv[1], "nft")]}))
PY
)
    # the job's driver runs in this directory, so that relative paths mean the same (nft.main makes them absolute)
    local submit=("${RAY:-ray}" job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" --runtime-env-json "$env_json" -- env -C "$PWD")
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
      echo "DRY_RUN: would submit: ${submit[*]} ${cmd[*]}"
      DRY_RUN=1 exec "${cmd[@]}"
    fi
    exec "${submit[@]}" "${cmd[@]}"
  fi
  exec "${cmd[@]}"
}
