"""AP: the MLP accuracy predictor (Once-for-All style) on a flat architecture encoding.

Features are standardised with the training set's mean and standard deviation (constant
columns left as they are), so any encoding (one-hot, path, meta-features) trains alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.neural.training import NeuralPredictor
from torch import nn


class APModel(nn.Module):
    def __init__(self, d_in: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i in range(layers):
            mods += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*mods, nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


class APPredictor(NeuralPredictor):
    name = "ap"
    cost_family = "GCN family"
    prior_seconds = 2.0
    description = "MLP accuracy predictor (AP, Once-for-All) on a flat encoding; trains on any loss."
    inputs = "encoding"
    default_encoding = "onehot"
    default_params: ClassVar[dict[str, Any]] = {**NeuralPredictor.train_params, "hidden": 400, "layers": 3, "dropout": 0.0}

    def _source(self, archs: ArchSet) -> np.ndarray:
        return np.asarray(archs.encoding(self.encoding), dtype=np.float32)

    def _prepare(self, source: np.ndarray) -> None:
        self.mean = source.mean(0)
        std = source.std(0)
        self.std = np.where(std > 0, std, 1.0).astype(np.float32)

    def _tensors(self, source: np.ndarray, sl: slice):
        if source.shape[1] != len(self.mean):
            raise ConfigError(
                f"Predictor 'ap' was fit on {len(self.mean)} features but got {source.shape[1]}; "
                "predict with the same encoding and search space."
            )
        return (torch.from_numpy((source[sl] - self.mean) / self.std),)

    def _build(self) -> nn.Module:
        p = self.params
        return APModel(len(self.mean), int(p["hidden"]), int(p["layers"]), float(p["dropout"]))
