#!/usr/bin/env bash
# Evaluate Qwen2.5-Math-7B-sized models / checkpoints with the paper's settings (arXiv 2505.18116, Table 1):
# top-p 0.7, temperature 1.0, prompt 512 + response 3584 tokens, avg@32 on AIME24/AIME25/AMC23 and
# avg@1 on MATH500/Minerva/OlympiadBench. One Markdown table for all models, with the paper's 7B rows.
#
#   bash eval_local_7B.sh MODEL_OR_CHECKPOINT [MORE ...] [extra nft.eval options]
#   bash eval_local_7B.sh checkpoints/nft/global_step_300 /models/Qwen2.5-Math-7B --label NFT --label base
#
# MODEL_OR_CHECKPOINT: a Hugging Face folder, or a verl FSDP checkpoint (global_step_N or
# global_step_N/actor; merged with verl's model merger first). Everything from the first argument
# starting with '-' on is passed to `python -m nft.eval run` (it overrides the settings below).
# Environment: DATA_DIR (benchmark files, default data), OUTPUT (default eval_results/7B), TP (vLLM tensor
# parallel size, default 1), BENCHMARKS (comma list), N_SAMPLES (paper | K | name=K,...), REFERENCE
# (7B|32B|all|none), PYTHON, DRY_RUN=1 (print the command only),
# PRESET=paper (default; the settings above) | authors: the authors' evaluation script,
#   prompt 1024 + response 7168, temperature 1.0, top-p 0.7 (their eval_local_7B.sh:3-9);
#   PRESET=authors-by-path: the authors' script whose save_path names this size instead;
#   output then defaults to eval_results/7B-$PRESET and the table names the settings.
set -euo pipefail
SIZE=7B
DEFAULT_TP=1

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/eval_common.sh"
