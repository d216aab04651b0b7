"""Every training script x ALGO x PRESET (and the variants of ``dry_run_golden.CASES``) prints the same
DRY_RUN=1 output as the bash recipes did before they became Hydra config groups (recorded at d93c917).

Each case runs the real script with the interpreter replaced by ``argv_python.sh`` (the script's own output
and the exact ``nft.main`` arguments), then nft.main's dry run in this process on the config those
arguments compose; ``test_recipes.py`` runs a few scripts end to end as well.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys

import pytest
from dry_run_golden import CASES, load, normalize
from hydra import compose, initialize_config_dir

from nft import main as M

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "@@nft.main@@"
GOLDEN = load()


def dry_run_output(name: str, monkeypatch, capsys) -> str:
    script, env, extra = CASES[name]
    run_env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "PRINT_ARGS", "NFT_DATA_DIR")}
    run_env.update(env, DRY_RUN="1", PYTHON=os.path.join(REPO, "tests", "argv_python.sh"), NFT_REAL_PYTHON=sys.executable)
    r = subprocess.run(["bash", script, *extra], env=run_env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and MARK in r.stdout, r.stdout + r.stderr
    shell_out, argv = r.stdout.split(MARK + "\n", 1)
    data_dir, *argv = argv.splitlines()
    config_path = next(a.split("=", 1)[1] for a in argv if a.startswith("--config-path="))
    config_name = next(a.split("=", 1)[1] for a in argv if a.startswith("--config-name="))
    overrides = [a for a in argv if not a.startswith("--")]
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    if data_dir.split("=", 1)[1]:
        monkeypatch.setenv("NFT_DATA_DIR", data_dir.split("=", 1)[1])
    with initialize_config_dir(config_dir=config_path, version_base=None):
        cfg = compose(config_name=config_name, overrides=overrides)
    capsys.readouterr()
    M.run(cfg)
    return normalize(shell_out + capsys.readouterr().out, root=REPO)


@pytest.mark.parametrize("name", sorted(CASES))
def test_dry_run_output_is_unchanged(name, monkeypatch, capsys):
    got = dry_run_output(name, monkeypatch, capsys)
    diff = "\n".join(difflib.unified_diff(GOLDEN[name].splitlines(), got.splitlines(), "recorded", "now", lineterm="", n=2))
    assert not diff, diff
