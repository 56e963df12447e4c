r"""Adaptive Focal Loss with class weights (the paper's training objective).

The paper names "Adaptive Focal Loss with class weights" without giving its formula; this is
exactly what edge-ser implements.

For a batch of N samples with logits z_i and true classes y_i, let
p_i = softmax(z_i)[y_i] be the probability given to the true class. Then

.. math::

    \mathrm{AFL} = \frac{\sum_i w_{y_i}\,(1 - p_i)^{\gamma_{y_i}}\,(-\log p_i)}{\sum_i w_{y_i}}

* **class weights** w_c: inverse class frequency of the training set, normalised so that a
  balanced set gives 1: w_c = n / (C_present * n_c) (0 for a class with no training example);
  see :func:`inverse_frequency_weights`. The normalisation by sum w_{y_i} matches
  ``torch.nn.functional.cross_entropy(weight=w)``.
* **adaptive focusing** gamma_c, per class, from a running estimate of how easy class c is:

  .. math::

      \gamma_c = \gamma_{min} + (\gamma_{max} - \gamma_{min})\, e_c, \qquad
      e_c \leftarrow m\, e_c + (1 - m)\, \overline{p}_c

  where :math:`\overline{p}_c` is the mean of p_i over the samples of class c in a training
  batch (no gradient flows through it), m the momentum, and e_c starts at chance, 1 / C.
  e_c is updated after the loss of a batch is computed, only in training mode and only for
  classes present in the batch; the gammas used for a batch are those from before it.

Classes the model already recognises (high e_c) get a stronger focusing term, so their many
easy examples add little to the loss; classes it still confuses keep a loss close to weighted
cross-entropy. With ``gamma_min = gamma_max = 0`` this is weighted cross-entropy; with
``gamma_min = gamma_max = g`` it is the focal loss of Lin et al. (2017) with class weights.
The base 1 - p_i is clamped to at least 1e-6 so that the gradient stays finite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from edge_ser.errors import TrainingError

__all__ = ["AdaptiveFocalLoss", "inverse_frequency_weights"]


def inverse_frequency_weights(counts: Sequence[float]) -> npt.NDArray[np.float64]:
    """w_c = n / (C_present * n_c) for classes with n_c > 0, else 0."""
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 1 or (arr < 0).any() or arr.sum() <= 0:
        raise TrainingError(f"class counts must be non-negative with a positive sum, got {counts}")
    present = arr > 0
    weights = np.zeros_like(arr)
    weights[present] = arr.sum() / (present.sum() * arr[present])
    return weights


class AdaptiveFocalLoss(nn.Module):
    """Class-weighted focal loss with a per-class adaptive focusing parameter.

    See the module docstring for the formula. The running estimate ``easiness`` is a buffer,
    so it is saved and restored with the module's ``state_dict`` (resumed training continues
    with the same gammas).
    """

    easiness: torch.Tensor
    class_weights: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        class_weights: Sequence[float] | None = None,
        gamma_min: float = 1.0,
        gamma_max: float = 3.0,
        momentum: float = 0.9,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise TrainingError(f"num_classes must be >= 2, got {num_classes}")
        if not (0.0 <= gamma_min <= gamma_max):
            raise TrainingError(
                f"need 0 <= gamma_min <= gamma_max, got {gamma_min} and {gamma_max}"
            )
        if not (0.0 <= momentum < 1.0):
            raise TrainingError(f"momentum must be in [0, 1), got {momentum}")
        weights = [1.0] * num_classes if class_weights is None else list(class_weights)
        if len(weights) != num_classes or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise TrainingError(
                f"class_weights must be {num_classes} non-negative numbers, got {class_weights}"
            )
        self.gamma_min = float(gamma_min)
        self.gamma_max = float(gamma_max)
        self.momentum = float(momentum)
        self.register_buffer("class_weights", torch.tensor(weights, dtype=torch.float32))
        self.register_buffer("easiness", torch.full((num_classes,), 1.0 / num_classes))

    def gammas(self) -> torch.Tensor:
        """The focusing parameter of each class, from the current easiness estimate."""
        return self.gamma_min + (self.gamma_max - self.gamma_min) * self.easiness

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=-1)
        log_pt = log_p.gather(1, target.unsqueeze(1)).squeeze(1)
        pt = log_pt.exp()
        gamma = self.gammas()[target]
        w = self.class_weights[target]
        focal = (1.0 - pt).clamp_min(1e-6).pow(gamma)
        loss = (w * focal * -log_pt).sum() / w.sum().clamp_min(1e-12)
        if self.training:
            self._update(pt.detach(), target)
        return loss

    @torch.no_grad()
    def _update(self, pt: torch.Tensor, target: torch.Tensor) -> None:
        c = self.easiness.shape[0]
        counts = torch.bincount(target, minlength=c).to(pt.dtype)
        sums = torch.bincount(target, weights=pt, minlength=c)
        present = counts > 0
        mean = sums[present] / counts[present]
        self.easiness[present] = self.momentum * self.easiness[present] + (1 - self.momentum) * mean
