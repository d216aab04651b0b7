"""recipes/config/nft_trainer.yaml, NFTPolicyLossConfig (the one source of the NFT knobs' defaults) and the
start-up checks of nft.checks."""

from __future__ import annotations

import pytest
from conftest import ACTOR_BASICS
from hydra.errors import InstantiationException

from nft.checks import ConfigError, problems
from nft.config import NFT_FIELDS, NFTPolicyLossConfig


def config_problems(cfg):
    return problems(cfg, check_paths=False)


def validate_config(cfg):
    found = config_problems(cfg)
    if found:
        raise ConfigError(found)

PL = "actor_rollout_ref.actor.policy_loss."


def test_yaml_has_the_paper_defaults(compose_nft):
    cfg = compose_nft()
    assert cfg.algorithm.adv_estimator == "nft"
    assert cfg.algorithm.use_kl_in_reward is False
    assert cfg.algorithm.filter_groups.enable is True and cfg.algorithm.filter_groups.metric == "acc"
    actor = cfg.actor_rollout_ref.actor
    assert actor.policy_loss.loss_mode == "nft"
    assert actor.policy_loss._target_ == "nft.config.NFTPolicyLossConfig"
    assert (actor.policy_loss.neg_weight, actor.policy_loss.normalize, actor.policy_loss.clamp_negative) == (1.0, 1, 1.0)
    assert actor.use_kl_loss is False and actor.entropy_coeff == 0
    assert actor.optim.lr == 1e-6 and actor.optim.weight_decay == 0.1 and actor.optim.clip_grad == 1.0
    assert cfg.actor_rollout_ref.model.external_lib == "nft.register"
    assert cfg.reward.custom_reward_function.path == "pkg://nft.reward"
    # verl's own defaults are still there (composed over ppo_trainer)
    assert cfg.trainer.use_v1 is True and "rollout" in cfg.actor_rollout_ref
    validate_config(cfg)


def test_actor_dataclass_carries_nft_policy_loss(actor_config_factory):
    actor = actor_config_factory([PL + "neg_weight=0", PL + "normalize=2", PL + "ratio_type=sequence"])
    assert isinstance(actor.policy_loss, NFTPolicyLossConfig)
    assert (actor.policy_loss.neg_weight, actor.policy_loss.normalize, actor.policy_loss.ratio_type) == (0, 2, "sequence")
    assert actor.policy_loss.loss_mode == "nft"


@pytest.mark.parametrize(
    "override,field",
    [
        ("normalize=3", "normalize"),
        ("neg_weight=-1", "neg_weight"),
        ("clamp_negative=0", "clamp_negative"),
        ("clamp_negative=-1.0", "clamp_negative"),
        ("clamp_positive=-0.1", "clamp_positive"),
        ("ratio_type=tokens", "ratio_type"),
        ("aggregation=sum", "aggregation"),
        ("max_log_ratio=0", "max_log_ratio"),
        ("authors_dp_size=-1", "authors_dp_size"),
        ("authors_dp_size=2.5", "authors_dp_size"),
    ],
)
def test_invalid_knob_fails_naming_the_field(compose_nft, actor_config_factory, override, field):
    with pytest.raises((ValueError, InstantiationException), match=f"policy_loss.{field}"):
        actor_config_factory([PL + override])
    with pytest.raises(ValueError, match=f"policy_loss.{field}"):
        validate_config(compose_nft([PL + override]))


def test_dataclass_direct():
    with pytest.raises(ValueError, match="DAPO baseline"):
        NFTPolicyLossConfig(neg_weight=-1.0)
    with pytest.raises(ValueError, match="normalize"):
        NFTPolicyLossConfig(normalize=True)
    with pytest.raises(ValueError, match="finite"):
        NFTPolicyLossConfig(clamp_negative=float("nan"))
    cfg = NFTPolicyLossConfig(neg_weight=0.5, normalize=0)
    assert cfg.get("neg_weight") == 0.5 and cfg["normalize"] == 0


STARTUP_CASES = [
    (["algorithm.adv_estimator=grpo"], "needs algorithm.adv_estimator=nft"),
    ([PL + "loss_mode=vanilla"], "needs actor_rollout_ref.actor.policy_loss.loss_mode=nft"),
    (["algorithm.use_kl_in_reward=true"], "use_kl_in_reward"),
    (["+reward.reward_kwargs.overlong_buffer_cfg.enable=true"], "overlong_buffer_cfg"),
    (["reward.reward_model.enable=true"], "reward_model.enable"),
    (["algorithm.rollout_correction.bypass_mode=true", "trainer.use_v1=false"], "replaces the NFT loss"),
    (["distillation.enabled=true"], "distillation.enabled"),
    (["actor_rollout_ref.model.external_lib=null"], "external_lib must name nft.register"),
    ([PL + "_target_=verl.workers.config.PolicyLossConfig", "~" + PL + "neg_weight", "~" + PL + "normalize",
      "~" + PL + "clamp_negative", "~" + PL + "clamp_positive", "~" + PL + "ratio_type", "~" + PL + "max_log_ratio",
      "~" + PL + "aggregation", "~" + PL + "authors_token_divisor",
      "~" + PL + "authors_dp_size"], "NFTPolicyLossConfig"),
    (["custom_reward_function.path=my_reward.py"], "reward.custom_reward_function"),
    (["trainer.use_v1=false"], "legacy trainer"),
]


@pytest.mark.parametrize("overrides,message", STARTUP_CASES)
def test_startup_validation_says_what_to_change(compose_nft, overrides, message, monkeypatch):
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    with pytest.raises(ValueError, match=message):
        validate_config(compose_nft(overrides))


def test_baselines_pass_validation(compose_nft):
    dapo = ["algorithm.adv_estimator=grpo", PL + "loss_mode=vanilla", "actor_rollout_ref.actor.clip_ratio_low=0.2",
            "actor_rollout_ref.actor.clip_ratio_high=0.28"]
    assert config_problems(compose_nft(dapo)) == []
    assert config_problems(compose_nft([PL + "neg_weight=0", PL + "normalize=0"])) == []


def test_external_modules_env_is_accepted(compose_nft, monkeypatch):
    monkeypatch.setenv("VERL_USE_EXTERNAL_MODULES", "nft.register")
    assert config_problems(compose_nft(["actor_rollout_ref.model.external_lib=null"])) == []


def test_all_problems_reported_together(compose_nft):
    with pytest.raises(ValueError) as err:
        validate_config(compose_nft(["algorithm.use_kl_in_reward=true", "distillation.enabled=true", PL + "normalize=7"]))
    text = str(err.value)
    assert "3 problem(s)" in text and text.startswith("invalid configuration") and "use_kl_in_reward" in text and "distillation" in text and "normalize" in text


def test_basics_are_enough_for_the_actor(actor_config_factory):
    assert ACTOR_BASICS and actor_config_factory().rollout_n == 4


def test_the_yaml_takes_every_nft_default_from_the_dataclass(compose_nft):
    """One source: the composed policy_loss node carries NFTPolicyLossConfig's own fields with its defaults
    (Hydra's ConfigStore node, nft/config.py), in declaration order after verl's keys."""
    pl = compose_nft().actor_rollout_ref.actor.policy_loss
    assert list(pl)[-len(NFT_FIELDS) + 1:] == list(NFT_FIELDS[1:])  # loss_mode keeps verl's place
    defaults = NFTPolicyLossConfig()
    assert {k: pl[k] for k in NFT_FIELDS} == {k: getattr(defaults, k) for k in NFT_FIELDS}
    text = (__import__("pathlib").Path(__file__).parents[1] / "recipes" / "config" / "nft_trainer.yaml").read_text()
    assert "neg_weight" not in text and "clamp_negative" not in text  # not written again in the yaml
