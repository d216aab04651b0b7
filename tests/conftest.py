"""Shared fixtures: the repository's Hydra config, composed once per set of overrides."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "recipes" / "config"

# The minimum a composed nft_trainer needs before verl can build the actor dataclass.
ACTOR_BASICS = [
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.rollout.n=4",
]


@pytest.fixture(autouse=True)
def under_nft_main(monkeypatch):
    """Unit tests call the NFT estimator as a run of ``python -m nft.main`` does: with its entry-point marker
    (nft.config.ENTRY_POINT_ENV). A test of the refusal deletes it."""
    monkeypatch.setenv("NFT_ENTRY_POINT", "nft.main")


@pytest.fixture(scope="session")
def compose_nft():
    """compose_nft(overrides) -> the DictConfig that `--config-name=nft_trainer overrides...` gives.

    Each composition runs in its own Hydra context, so no global Hydra state outlives the call (other
    tests initialise Hydra themselves); results are cached per set of overrides.
    """
    from hydra import compose, initialize_config_dir

    import nft.config  # noqa: F401  (fills Hydra's ConfigStore with the NFT policy-loss node)

    cache = {}

    def _compose(overrides=()):
        key = tuple(overrides)
        if key not in cache:
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
                cache[key] = compose(config_name="nft_trainer", overrides=list(overrides))
        return cache[key].copy()

    return _compose


@pytest.fixture(scope="session")
def actor_config_factory(compose_nft):
    """actor_config_factory(extra_overrides) -> verl ActorConfig built from the composed yaml."""
    from verl.utils.config import omega_conf_to_dataclass

    def _build(extra=()):
        cfg = compose_nft(ACTOR_BASICS + list(extra))
        return omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)

    return _build


def pytest_sessionfinish(session, exitstatus):
    """Safety net after every run, failed ones included: remove the /dev/shm segments that vLLM's killed
    processes left and no live process holds (each end-to-end test also cleans up after itself)."""
    from nft.shm import sweep

    sweep(min_age_s=2)
