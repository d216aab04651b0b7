"""Negative-aware Fine-Tuning (NFT) for verl 0.9.1.

Import :mod:`nft.register` to register the ``"nft"`` advantage estimator and policy loss in verl's
registries; :mod:`nft.objective` holds the math in plain torch.
"""

__version__ = "0.1.0"
