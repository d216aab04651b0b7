# Shared by download_data.sh and download_model.sh (sourced, not run).
# hf_download REPO LOCAL_DIR [ARGS...]: download a Hugging Face Hub repository (or the files/--include
# patterns in ARGS) with the `hf` CLI, or the older `huggingface-cli`. HF_REPO_TYPE=dataset for datasets.
hf_download() {
  local repo=$1 dir=$2; shift 2
  local type_args=()
  [[ -n "${HF_REPO_TYPE:-}" ]] && type_args=(--repo-type "$HF_REPO_TYPE")
  if command -v hf >/dev/null 2>&1; then
    hf download "$repo" "$@" "${type_args[@]}" --local-dir "$dir"
  elif command -v huggingface-cli >/dev/null 2>&1; then
    huggingface-cli download "$repo" "$@" "${type_args[@]}" --local-dir "$dir"
  else
    echo "error: neither 'hf' nor 'huggingface-cli' found; pip install -U huggingface_hub" >&2
    exit 1
  fi
}
