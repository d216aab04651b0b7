#!/usr/bin/env bash
# Stands in for the interpreter in tests/test_recipes_golden.py: `-m nft.main ...` prints its arguments
# (and NFT_DATA_DIR) after a marker instead of running; anything else runs the real interpreter.
if [[ "${1:-}" == "-m" && "${2:-}" == "nft.main" ]]; then
  echo "@@nft.main@@"
  echo "NFT_DATA_DIR=${NFT_DATA_DIR:-}"
  shift 2
  printf '%s\n' "$@"
  exit 0
fi
exec "$NFT_REAL_PYTHON" "$@"
