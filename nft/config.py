"""``NFTPolicyLossConfig``: the NFT knobs under ``actor_rollout_ref.actor.policy_loss``.

verl instantiates ``actor_rollout_ref.actor`` into dataclasses through Hydra ``_target_`` keys and
rejects unknown keys (``verl/utils/config.py::omega_conf_to_dataclass``). Naming this class in
``actor_rollout_ref.actor.policy_loss._target_`` is the supported way to add fields; nothing else in
verl 0.9.1 re-types ``policy_loss``. Invalid values raise ``ValueError`` naming the field as soon as the
config is built: in the driver at start-up (:mod:`nft.checks`) and again in every worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from hydra.core.config_store import ConfigStore
from verl.workers.config import PolicyLossConfig

from nft.objective import NORMALIZE_MODES, RATIO_TYPES

AGGREGATIONS = ("verl", "authors")
#: ``python -m nft.main`` sets it to ``nft.main`` in its environment and in the run's Ray runtime env
#: (nft/main.py::run), so every process of the run sees it; the NFT estimator refuses to run without it.
ENTRY_POINT_ENV = "NFT_ENTRY_POINT"

_FIELD = "actor_rollout_ref.actor.policy_loss."


@dataclass
class NFTPolicyLossConfig(PolicyLossConfig):
    """Policy-loss config with the NFT fields (formulas in :mod:`nft.objective`).

    Args:
        loss_mode: registered verl policy loss; ``"nft"`` for NFT/RFT. Baselines (DAPO, GRPO) keep this
            class and set ``"vanilla"``: the NFT fields are then unused.
        neg_weight: λ, weight of the negative term. 1 = NFT, 0 = RFT; must be >= 0 (the authors'
            ``neg_weight=-1`` "DAPO instead" is a recipe switch here, ``NEG_WEIGHT=-1 bash train_7B.sh``).
        normalize: prompt weight ω(r̂): 0 → 1, 1 → 1 − r̂ (Dr.GRPO), 2 → sqrt((1 − r̂)/r̂) (GRPO).
        clamp_negative: ε > 0, lower clamp of (1 − r̂R)/(1 − r̂) (value clamped, gradient kept).
        clamp_positive: c₊ >= 0, lower clamp of R on positive answers (0 = no clamp).
        ratio_type: ``"token"`` (R per token) or ``"sequence"`` (one R per answer).
        max_log_ratio: M, the ratio is exp(min(Δ, M)) (the authors use 10).
        aggregation: ``"verl"`` aggregates with ``actor.loss_agg_mode`` through verl's ``agg_loss``
            (recommended: ``token-mean``); ``"authors"`` reproduces the authors' code: each DP rank's
            token sum divided by ``authors_token_divisor`` (per-answer sum, undivided, for
            ratio_type=sequence), gradients averaged across ranks by the engine.
        authors_token_divisor: the authors' constant, 1000.
        authors_dp_size: with ``aggregation=authors``, the number of data-parallel ranks the authors'
            gradient is averaged over; their scale is (global token sum) / (divisor x that number), so it
            depends on their cluster. 0 (default) = this run's DP size. Set it to reproduce their gradient
            on any cluster: 32 for their 7B (4 x 8 GPUs, SP 1), 16 for their 32B (16 x 8 GPUs / SP 8); the
            ``PRESET=authors`` recipes do. Unused with ``aggregation=verl``.
    """

    loss_mode: str = "nft"
    neg_weight: float = 1.0
    normalize: int = 1
    clamp_negative: float = 1.0
    clamp_positive: float = 0.0
    ratio_type: str = "token"
    max_log_ratio: float = 10.0
    aggregation: str = "verl"
    authors_token_divisor: float = 1000.0
    authors_dp_size: int = 0

    def __post_init__(self):
        _check_number("neg_weight", self.neg_weight)
        if self.neg_weight < 0:
            raise ValueError(
                f"{_FIELD}neg_weight={self.neg_weight} is invalid: it must be >= 0 (1 = NFT, 0 = RFT). "
                "The authors' neg_weight=-1 means 'run the DAPO baseline instead'; here that is a recipe "
                "switch (NEG_WEIGHT=-1 bash train_7B.sh), i.e. algorithm.adv_estimator=grpo and "
                "policy_loss.loss_mode=vanilla, not a loss value."
            )
        if isinstance(self.normalize, bool) or self.normalize not in NORMALIZE_MODES:
            raise ValueError(
                f"{_FIELD}normalize={self.normalize!r} is invalid: use 0 (ω = 1), 1 (ω = 1 - r, Dr.GRPO, "
                "default) or 2 (ω = sqrt((1 - r)/r), GRPO)."
            )
        _check_number("clamp_negative", self.clamp_negative)
        if self.clamp_negative <= 0:
            raise ValueError(
                f"{_FIELD}clamp_negative={self.clamp_negative} is invalid: ε must be > 0 (default 1.0; the "
                "paper reports that ε -> 0 degrades results)."
            )
        _check_number("clamp_positive", self.clamp_positive)
        if self.clamp_positive < 0:
            raise ValueError(f"{_FIELD}clamp_positive={self.clamp_positive} is invalid: it must be >= 0.")
        if self.ratio_type not in RATIO_TYPES:
            raise ValueError(f"{_FIELD}ratio_type={self.ratio_type!r} is invalid: use one of {list(RATIO_TYPES)}.")
        _check_number("max_log_ratio", self.max_log_ratio)
        if not 0 < self.max_log_ratio <= 50:
            raise ValueError(f"{_FIELD}max_log_ratio={self.max_log_ratio} is invalid: use a value in (0, 50].")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"{_FIELD}aggregation={self.aggregation!r} is invalid: use one of {list(AGGREGATIONS)}.")
        _check_number("authors_token_divisor", self.authors_token_divisor)
        if self.authors_token_divisor <= 0:
            raise ValueError(f"{_FIELD}authors_token_divisor={self.authors_token_divisor} is invalid: it must be > 0.")
        if isinstance(self.authors_dp_size, bool) or not isinstance(self.authors_dp_size, int) or self.authors_dp_size < 0:
            raise ValueError(
                f"{_FIELD}authors_dp_size={self.authors_dp_size!r} is invalid: it must be an integer >= 0 (0 = this "
                "run's data-parallel size; 32 = the authors' 7B cluster, 16 = their 32B)."
            )


    def loss_kwargs(self) -> dict:
        """The keyword arguments of :func:`nft.objective.nft_loss_matrix`."""
        return {name: getattr(self, name) for name in LOSS_KNOBS}


LOSS_KNOBS = ("neg_weight", "normalize", "clamp_negative", "clamp_positive", "ratio_type", "max_log_ratio")
#: the fields this class adds to verl's PolicyLossConfig, in declaration order
NFT_FIELDS = tuple(f.name for f in fields(NFTPolicyLossConfig) if f.name in NFTPolicyLossConfig.__annotations__)

# The yaml reads the defaults from here: recipes/config/nft_trainer.yaml puts this node at
# actor_rollout_ref.actor.policy_loss (defaults list `nft_policy_loss@actor_rollout_ref.actor.policy_loss`),
# so every knob can be overridden by name. Hydra's ConfigStore, filled when this module is imported
# (nft.main imports it before composing).
ConfigStore.instance().store(
    name="nft_policy_loss",
    node={"_target_": f"{__name__}.NFTPolicyLossConfig",
          **{name: getattr(NFTPolicyLossConfig, name) for name in NFT_FIELDS}},
)


def _check_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{_FIELD}{name}={value!r} is invalid: it must be a finite number.")
