"""nft.main start-up: the dry run refuses what the real run refuses, plugin imports fail loudly naming the
module, the run marks its processes for the NFT estimator, and the copy of verl's TaskRunnerV1.run stays
in step with the installed verl."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from nft import main as M

SMALL = ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2", "actor_rollout_ref.rollout.n=4",
         "data.train_batch_size=8", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
         "trainer.n_gpus_per_node=2", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
         "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2"]
DAPO = ["algorithm.adv_estimator=grpo", "actor_rollout_ref.actor.policy_loss.loss_mode=vanilla"]


@pytest.mark.parametrize("extra", [DAPO, ["algorithm.filter_groups.enable=false"]], ids=["dapo", "nft-no-filter"])
def test_dry_run_refuses_the_legacy_trainer(compose_nft, monkeypatch, extra):
    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    M.run(compose_nft(SMALL + extra))  # fine with the v1 trainer
    with pytest.raises(ValueError, match=r"trainer\.use_v1"):
        M.run(compose_nft(SMALL + extra + ["trainer.use_v1=false"]))


def test_unimportable_external_lib_fails_naming_the_module(compose_nft, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    with pytest.raises(ValueError, match=r"actor_rollout_ref\.model\.external_lib=nft\.no_such_module.*cannot be imported"):
        M.run(compose_nft(SMALL + ["actor_rollout_ref.model.external_lib=nft.no_such_module"]))
    # a baseline too: verl would only log the failure at DEBUG level
    with pytest.raises(ValueError, match="nft_missing_plugin_xyz"):
        M.run(compose_nft(SMALL + DAPO + ["actor_rollout_ref.model.external_lib=nft_missing_plugin_xyz"]))


def test_unimportable_env_module_fails_naming_it(compose_nft, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.setenv("VERL_USE_EXTERNAL_MODULES", "nft.register, broken_plugin_xyz")
    with pytest.raises(ValueError, match=r"VERL_USE_EXTERNAL_MODULES.*broken_plugin_xyz.*cannot be imported"):
        M.run(compose_nft(SMALL))


def test_a_plugin_that_raises_is_reported_with_its_error(compose_nft, monkeypatch, tmp_path):
    (tmp_path / "raising_plugin_xyz.py").write_text("raise RuntimeError('needs CUDA')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.setenv("VERL_USE_EXTERNAL_MODULES", "raising_plugin_xyz")
    with pytest.raises(ValueError, match=r"raising_plugin_xyz.*RuntimeError: needs CUDA"):
        M.run(compose_nft(SMALL))


def test_nft_loss_not_registered_after_import(compose_nft, monkeypatch):
    from verl.trainer.ppo import core_algos

    import nft.register  # noqa: F401  (imported, so importing it again registers nothing)

    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    monkeypatch.delitem(core_algos.POLICY_LOSS_REGISTRY, "nft")
    with pytest.raises(ValueError, match=r"after importing nft\.register, verl has no 'nft' policy loss"):
        M.run(compose_nft(SMALL))


def test_run_marks_every_process_of_the_run(compose_nft, monkeypatch):
    """nft.main sets the entry-point marker the NFT estimator requires in its own environment (a local Ray
    cluster inherits it) and in the Ray runtime env (an existing cluster's workers), then calls run_ppo."""
    import verl.trainer.main_ppo as mp

    import nft.checks

    monkeypatch.delenv("DRY_RUN", raising=False)
    monkeypatch.delenv("NFT_ENTRY_POINT", raising=False)
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    monkeypatch.setattr(nft.checks, "paths", lambda cfg: [])  # no data/model on disk here
    seen = []
    monkeypatch.setattr(mp, "run_ppo", lambda cfg, task_runner_class: seen.append((cfg, task_runner_class)))
    M.run(compose_nft(SMALL))
    (cfg, runner), = seen
    assert cfg.ray_kwargs.ray_init.runtime_env.env_vars.NFT_ENTRY_POINT == "nft.main"
    assert __import__("os").environ["NFT_ENTRY_POINT"] == "nft.main"
    assert runner.__ray_actor_class__.run.__qualname__.endswith("NFTTaskRunner.run")


# ------------------------------------------------------------------ the copy of verl's TaskRunnerV1.run
# nft/main.py::NFTTaskRunner.run re-states verl's TaskRunnerV1.run with the trainer class swapped. The
# only differences allowed: these statements of verl's are replaced by ours (matched by ast.dump).
VERL_REPLACED = {
    "from verl.trainer.ppo.v1 import get_trainer_cls",
    "trainer_cls = get_trainer_cls(config.trainer.v1.trainer_mode)",
}
OURS_ADDED = {
    "import nft.register",
    "from nft.trainer import nft_trainer_cls",
    "trainer_cls = nft_trainer_cls(config.trainer.v1.trainer_mode)",
}


def _body(src: str) -> list[str]:
    fn = ast.parse(textwrap.dedent(src)).body[0]
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # docstring
    return [ast.dump(stmt) for stmt in body]


def run_copy_differences(verl_src: str, ours_src: str) -> list[str]:
    """How ``ours_src`` departs from ``verl_src`` beyond the declared substitution (empty = in step)."""
    replaced = {ast.dump(ast.parse(s).body[0]) for s in VERL_REPLACED}
    added = {ast.dump(ast.parse(s).body[0]) for s in OURS_ADDED}
    verl = [s for s in _body(verl_src) if s not in replaced]
    ours = [s for s in _body(ours_src) if s not in added]
    problems = []
    if len([s for s in _body(verl_src) if s in replaced]) != len(VERL_REPLACED):
        problems.append("verl's run no longer has the statements nft replaces: " + ", ".join(sorted(VERL_REPLACED)))
    if verl != ours:
        problems.append("statements differ:\n  verl: " + "\n        ".join(verl) + "\n  nft:  " + "\n        ".join(ours))
    return problems


def test_task_runner_copy_matches_installed_verl():
    from verl.trainer.main_ppo import TaskRunnerV1

    verl_src = inspect.getsource(TaskRunnerV1.__ray_actor_class__.run)
    ours_src = inspect.getsource(M.task_runner_cls().__ray_actor_class__.run)
    problems = run_copy_differences(verl_src, ours_src)
    assert not problems, (
        "verl's TaskRunnerV1.run (verl/trainer/main_ppo.py) changed: bring nft/main.py::NFTTaskRunner.run "
        "in step with it.\n" + "\n".join(problems)
    )


def test_the_copy_check_catches_a_changed_verl():
    from verl.trainer.main_ppo import TaskRunnerV1

    verl_src = textwrap.dedent(inspect.getsource(TaskRunnerV1.__ray_actor_class__.run))
    ours_src = inspect.getsource(M.task_runner_cls().__ray_actor_class__.run)
    added_step = verl_src.replace("        self.trainer.init()\n", "        self.trainer.init()\n        self.trainer.warmup()\n")
    assert added_step != verl_src
    assert run_copy_differences(added_step, ours_src)
    renamed = verl_src.replace("get_trainer_cls(config.trainer.v1.trainer_mode)", "get_trainer_cls(config.trainer.mode)")
    assert renamed != verl_src
    assert run_copy_differences(renamed, ours_src)


def test_missing_transfer_queue_is_refused_before_ray(compose_nft, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transfer_queue" else real(name, *a))
    monkeypatch.setenv("DRY_RUN", "1")
    with pytest.raises(ValueError, match="needs the TransferQueue package"):
        M.run(compose_nft(SMALL))


@pytest.mark.parametrize("module", ["nft.main", "nft.config", "nft.checks", "nft.register"])
def test_imports_with_the_plugin_named_in_verl_external_modules(module):
    """A Ray job's driver runs `python -m nft.main` with VERL_USE_EXTERNAL_MODULES=nft.register (recipes/launch.sh):
    nft.config imports verl, whose __init__ imports nft.register, which must not need nft.config finished."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="nft.register")
    r = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
