"""Losses with torch's names and reductions, each with its value and its gradient wrt the model output.

``reduction``: "mean" (torch: divide by the number of loss elements; for CrossEntropyLoss/NLLLoss by N),
"sum", and symprop's "batchmean" (divide by N).  ``"none"`` is refused: symprop differentiates a scalar.

====================  ============================================  ================================
loss                  element                                      gradient wrt the output
====================  ============================================  ================================
MSELoss               (a - y)^2                                     2 (a - y)
QuadraticLoss         (a - y)^2 / 2  (symprop's textbook cost)      a - y
L1Loss                |a - y|                                       sign(a - y), 0 at a = y (torch)
BCELoss               -(y log a + (1 - y) log(1 - a))               (a - y) / (a (1 - a))
BCEWithLogitsLoss     softplus(z) - y z                             sigma(z) - y
CrossEntropyLoss      per sample: (sum_k y_k) logsumexp(z) - y.z    softmax(z) sum_k y_k - y
NLLLoss               per sample: -x[label]                         -onehot(label)
====================  ============================================  ================================

CrossEntropyLoss takes logits (N, C) and integer labels (N,) or class probabilities (N, C), as torch.
BCELoss is exact (torch clamps its logarithms at -100; symprop does not).
The strings "mse", "sse", "quadratic", "bce", "bce_with_logits", "cross_entropy" (and "l1", "nll")
name the losses; see ``as_loss``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from ..errors import listing, suggest
from .module import ShapeError

LOSS_REDUCTIONS = ("mean", "sum", "batchmean")


@dataclass(frozen=True)
class Loss:
    """Base class: ``forward(ar, out, target) -> (value, backprop)``, ``backprop() -> d value / d out``."""

    reduction: str = "mean"

    #: the element's factor (QuadraticLoss: 1/2)
    half: ClassVar[bool] = False
    #: per-sample losses (the element is one sample's sum over the classes): "mean" divides by N
    per_sample: ClassVar[bool] = False
    #: targets are class labels (NLLLoss) or labels/probabilities (CrossEntropyLoss)
    takes_labels: ClassVar[bool] = False

    def __post_init__(self):
        if self.reduction == "none":
            raise ValueError(
                f"{type(self).__name__}: reduction='none' gives no scalar to differentiate; use 'mean' or 'sum'"
            )
        if self.reduction not in LOSS_REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: unknown reduction {self.reduction!r}; valid: "
                f"{', '.join(LOSS_REDUCTIONS)}." + suggest(str(self.reduction), LOSS_REDUCTIONS)
            )

    def scale(self, out_shape: tuple[int, ...]) -> Fraction:
        """The exact factor in front of the sum of the elements for an output of shape (N, ...)."""
        if self.reduction == "sum":
            value = Fraction(1)
        elif self.reduction == "batchmean" or self.per_sample:
            value = Fraction(1, out_shape[0])
        else:
            value = Fraction(1, int(np.prod(out_shape)))
        return value / 2 if self.half else value

    def target(self, ar, out: np.ndarray, Y: Any) -> np.ndarray:
        """The target in the arithmetic (labels turned into one-hot rows where the loss takes labels)."""
        if self.takes_labels:
            return ar.asarray(_class_targets(self, out.shape, Y))
        y = ar.asarray(Y)
        if y.shape != out.shape:
            if y.ndim == 1 and out.ndim == 2 and out.shape == (y.shape[0], 1):
                y = y.reshape(out.shape)  # targets (N,) for one output, as a column
            else:
                raise ShapeError(
                    f"{type(self).__name__}: the target has shape {y.shape} but the model's output "
                    f"has shape {out.shape}"
                )
        return y

    def forward(self, ar, out, Y):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


def _class_targets(loss: Loss, out_shape, Y) -> np.ndarray:
    """(N, C) float targets: integer labels (N,) become one-hot rows; probabilities pass through."""
    if len(out_shape) != 2:
        raise ShapeError(f"{type(loss).__name__}: symprop supports outputs (N, C), got {out_shape}")
    n, c = out_shape
    if hasattr(Y, "detach"):
        Y = Y.detach().cpu().numpy()
    y = np.asarray(Y)
    if y.ndim == 1 and (
        y.dtype.kind in "iu" or (isinstance(loss, NLLLoss) and y.dtype.kind == "f" and bool(np.all(y == np.round(y))))
    ):
        if y.shape != (n,):
            raise ShapeError(f"{type(loss).__name__}: class labels must have shape ({n},), got {y.shape}")
        labels = y.astype(np.int64)
        bad = (labels < 0) | (labels >= c)
        if bad.any():
            raise ValueError(
                f"{type(loss).__name__}: class label {labels[bad][0]} is out of range for {c} classes "
                f"(valid: 0..{c - 1})"
            )
        onehot = np.zeros((n, c), dtype=np.int64)
        onehot[np.arange(n), labels] = 1
        return onehot
    if isinstance(loss, NLLLoss):
        raise TypeError(f"NLLLoss: targets are integer class labels of shape ({n},), got dtype {y.dtype}")
    if y.shape != (n, c):
        raise ShapeError(
            f"{type(loss).__name__}: targets are integer labels ({n},) or class probabilities "
            f"({n}, {c}), got shape {y.shape}"
        )
    return y


def _reduce(ar, loss: Loss, elements: np.ndarray, shape):
    s = ar.const(loss.scale(shape))
    return ar.sum(elements) * s, s


@dataclass(frozen=True, repr=False)
class MSELoss(Loss):
    def forward(self, ar, out, Y):
        d = out - self.target(ar, out, Y)
        value, s = _reduce(ar, self, d * d, out.shape)
        return value, lambda: d * (ar.const(2) * s)


@dataclass(frozen=True, repr=False)
class QuadraticLoss(Loss):
    """symprop's textbook cost (1/(2N)) sum (a - y)^2 (reduction "batchmean" by default; the 1/2 stays)."""

    reduction: str = "batchmean"
    half: ClassVar[bool] = True

    def forward(self, ar, out, Y):
        d = out - self.target(ar, out, Y)
        value, s = _reduce(ar, self, d * d, out.shape)
        return value, lambda: d * (ar.const(2) * s)


@dataclass(frozen=True, repr=False)
class L1Loss(Loss):
    def forward(self, ar, out, Y):
        d = out - self.target(ar, out, Y)
        value, s = _reduce(ar, self, ar.abs(d), out.shape)
        return value, lambda: ar.sign(d) * s


@dataclass(frozen=True, repr=False)
class BCELoss(Loss):
    """On probabilities a in (0, 1) (e.g. after a Sigmoid)."""

    def forward(self, ar, out, Y):
        y = self.target(ar, out, Y)
        one = ar.const(1)
        value, s = _reduce(ar, self, -(y * ar.log(out) + (one - y) * ar.log(one - out)), out.shape)
        return value, lambda: (out - y) / (out * (one - out)) * s


@dataclass(frozen=True, repr=False)
class BCEWithLogitsLoss(Loss):
    """On logits z: softplus(z) - y z (torch's stable fused form)."""

    def forward(self, ar, out, Y):
        y = self.target(ar, out, Y)
        value, s = _reduce(ar, self, ar.softplus(out) - y * out, out.shape)
        return value, lambda: (ar.sigmoid(out) - y) * s


@dataclass(frozen=True, repr=False)
class CrossEntropyLoss(Loss):
    """On logits (N, C); targets integer labels (N,) or probabilities (N, C)."""

    per_sample: ClassVar[bool] = True
    takes_labels: ClassVar[bool] = True

    def forward(self, ar, out, Y):
        y = self.target(ar, out, Y)
        if ar.is_object:
            shift = ar.zeros((out.shape[0], 1))
            e = ar.exp(out)
        else:
            shift = np.max(out, axis=1, keepdims=True)
            e = np.exp(out - shift)
        se = ar.sum(e, axis=1, keepdims=True)
        lse = ar.log(se) + shift
        ysum = ar.sum(y, axis=1, keepdims=True)
        value, s = _reduce(ar, self, (lse * ysum).reshape(-1) - ar.sum(y * out, axis=1), out.shape)
        return value, lambda: (e / se * ysum - y) * s


@dataclass(frozen=True, repr=False)
class NLLLoss(Loss):
    """On log-probabilities (N, C) (e.g. after LogSoftmax); targets integer labels (N,)."""

    per_sample: ClassVar[bool] = True
    takes_labels: ClassVar[bool] = True

    def forward(self, ar, out, Y):
        y = self.target(ar, out, Y)
        value, s = _reduce(ar, self, -(y * out), out.shape)
        return value, lambda: -(y * s)


#: loss name -> (class, reduction or None for the class's default)
LOSS_STRINGS: dict[str, tuple[type[Loss], str | None]] = {
    "mse": (MSELoss, "mean"),
    "sse": (MSELoss, "sum"),
    "ssr": (MSELoss, "sum"),
    "quadratic": (QuadraticLoss, None),
    "l1": (L1Loss, "mean"),
    "bce": (BCELoss, "mean"),
    "bce_with_logits": (BCEWithLogitsLoss, "mean"),
    "cross_entropy": (CrossEntropyLoss, "mean"),
    "ce": (CrossEntropyLoss, "mean"),
    "nll": (NLLLoss, "mean"),
}


def as_loss(loss: Any, reduction: str | None = None) -> Loss:
    """A Loss from a Loss instance or a name ("mse", "sse", "quadratic", "bce", "bce_with_logits",
    "cross_entropy", "l1", "nll"); ``reduction`` overrides the name's own."""
    if isinstance(loss, Loss):
        if reduction is not None and reduction != loss.reduction:
            return type(loss)(reduction=reduction)
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss() if reduction is None else loss(reduction=reduction)
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name such as 'mse' or a loss such as MSELoss(), got {loss!r}")
    key = loss.strip().lower()
    if key not in LOSS_STRINGS:
        raise ValueError(f"unknown loss {loss!r}; valid: {listing(LOSS_STRINGS)}." + suggest(key, LOSS_STRINGS))
    cls, default = LOSS_STRINGS[key]
    red = reduction if reduction is not None else default
    return cls() if red is None else cls(reduction=red)
