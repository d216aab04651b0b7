#!/usr/bin/env bash
# Download DAPO-Math-17k and the six evaluation benchmarks from the Hugging Face Hub into $DATA_DIR/raw,
# then convert + validate them into verl RL parquet files in $DATA_DIR (python -m nft.data).
#
#   bash download_data.sh                      # -> data/*.parquet, prints rows per file
#   DATA_DIR=/shared/nft-data bash download_data.sh
#   SKIP_DOWNLOAD=1 bash download_data.sh      # offline: only convert files already in $DATA_DIR/raw
#
# Env: PYTHON (python3), DATA_DIR (data), HF_ENDPOINT (mirror), HF_TOKEN (optional, never stored here),
#      SKIP_BAD=1 to skip and count bad rows instead of failing.
set -euo pipefail

PYTHON=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-data}
RAW=${RAW_DIR:-$DATA_DIR/raw}
SKIP_BAD_FLAG=()
[[ "${SKIP_BAD:-0}" == "1" ]] && SKIP_BAD_FLAG=(--skip-bad)

# Training set (original release, ~1.79M rows = ~17.4K problems repeated) and the authors' presorted
# train/validation files (AIME/AMC rows repeated 32x for avg@32 with n=1).
DAPO_REPO=BytedTsinghua-SIA/DAPO-Math-17k
NFT_REPO=ChenDRAG/VeRL_math_validation
NFT_FILES=(
  dapo-math-17k_10boxed.parquet
  aime-2024-boxed_w_answer.parquet
  math500_boxed.parquet
  minerva_math.parquet
  olympiadbench.parquet
  aime2025_32_dapo_boxed_w_answer.parquet
  amc2023_32_dapo_boxed_w_answer.parquet
)

HF_REPO_TYPE=dataset
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/recipes/hf_download.sh"

if [[ "${SKIP_DOWNLOAD:-0}" != "1" ]]; then
  # Fail fast (seconds, not minutes of retries) when the Hub is unreachable.
  "$PYTHON" -m nft.data check-hub --timeout "${HUB_TIMEOUT:-15}"
  mkdir -p "$RAW"
  hf_download "$DAPO_REPO" "$RAW/DAPO-Math-17k" data/dapo-math-17k.parquet
  # --include globs (not exact paths), so the files are found in the repo root or a subfolder
  inc=(); for f in "${NFT_FILES[@]}"; do inc+=(--include "*$f"); done
  hf_download "$NFT_REPO" "$RAW/VeRL_math_validation" "${inc[@]}"
fi

INPUTS=()
DAPO_RAW=$RAW/DAPO-Math-17k/data/dapo-math-17k.parquet
[[ -f "$DAPO_RAW" ]] && INPUTS+=("$DAPO_RAW")
for f in "${NFT_FILES[@]}"; do
  if [[ -d "$RAW/VeRL_math_validation" ]]; then
    hit=$(find "$RAW/VeRL_math_validation" -name "$f" -type f -not -path "*/.cache/*" | head -n 1)
    if [[ -n "$hit" ]]; then INPUTS+=("$hit"); else echo "warning: $f not found under $RAW/VeRL_math_validation" >&2; fi
  fi
done
# Benchmarks in JSONL form ({"problem", "answer"} per line) dropped into $RAW/jsonl are converted too.
if [[ -d "$RAW/jsonl" ]]; then
  for f in "$RAW"/jsonl/*.jsonl; do [[ -f "$f" ]] && INPUTS+=("$f"); done
fi
if [[ ${#INPUTS[@]} -eq 0 ]]; then
  echo "error: no input files under $RAW (expected $DAPO_RAW, $RAW/VeRL_math_validation/*.parquet or $RAW/jsonl/*.jsonl)" >&2
  exit 1
fi

# DAPO-Math-17k files are deduplicated (names containing dapo-math-17k); benchmark repeats are kept.
"$PYTHON" -m nft.data convert "${INPUTS[@]}" --out-dir "$DATA_DIR" "${SKIP_BAD_FLAG[@]}"
echo "done: verl RL parquet files in $DATA_DIR"
