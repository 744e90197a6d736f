"""symprop.nn: layers with torch's names, one reverse pass on several arithmetics.

The contract (for every layer kind; conv/pool build on it)
----------------------------------------------------------
A layer kind is ONE frozen dataclass subclassing ``Module`` (``symprop/nn/module.py``), in its own file:

* constructor arguments and attributes with torch's names (``Linear(in_features, out_features, bias=True)``),
  validated in ``__post_init__`` with one-line ValueError/TypeError messages; ``training`` (keyword, True by
  default); ``train()``/``eval()`` return frozen copies; ``__repr__`` as torch's (override ``extra_repr``);
* ``param_shapes(in_shape) -> {name: shape}`` in torch's registration order and with torch's names
  ("weight", "bias"); ``buffer_shapes(in_shape)`` likewise ("running_mean", ...); ``in_shape`` is one
  sample's shape (the batch dimension excluded; inputs are (N, *in_shape) as torch's);
* ``out_shape(in_shape)``; raise ``ShapeError`` (a ValueError) naming the layer and the shapes when the input
  does not fit;
* ``forward(ar, x, params, buffers) -> (y, backprop)`` and ``backprop(dy, need_dx=True) -> (dx, {param name: grad})``
  (with ``need_dx=False``, which the engine passes for the model's first layer, dx may be None; backprop
  must not modify ``dy`` in place, since a Residual reuses it):
  the local backward rule (J^T dy and the parameter gradients) beside the forward, written ONCE against the
  arithmetic ``ar`` (``symprop/nn/arith.py``: ``FLOAT``, ``MP(dps)``, ``SYMBOLIC``).  Use only ``ar``'s
  methods (``ar.matmul, ar.sum, ar.exp, ar.relu, ar.step, ar.where(ar.gt(x, c), a, b), ar.const(c)`` ...)
  and the arrays' ``+ - * / @``, reshape/transpose/slicing; ``ar.is_object`` is True for MP/SYMBOLIC
  (no float-only tricks there).  Constants go through ``ar.const`` (0.1 is exactly 1/10 in MP/SYMBOLIC);
* ``latex_forward(x, y)`` and ``latex_delta(dy, dx, x)``: one-line LaTeX of the forward equation and of the
  delta rule;
* ``l2_params`` (ClassVar): parameter names the l2 penalty covers (Linear: ("weight",)).

Containers: ``Sequential(*modules)`` (children "0", "1", ...; state-dict names "0.weight", nested
"1.0.weight"; ``named_children()``, ``len``, indexing) and ``Residual(block)`` (y = x + block(x), child
"block": "1.block.0.weight"; symprop's own).  Models are frozen (no attribute can be set or added), equal
models hash equal.

Activations: one ``ActivationEntry`` each in ``activation.REGISTRY`` (LaTeX, kink convention, curvature
bound, text, forward, backward).  Losses (``loss.py``): ``MSELoss, L1Loss, CrossEntropyLoss, NLLLoss,
BCELoss, BCEWithLogitsLoss`` and symprop's ``QuadraticLoss``, reductions "mean", "sum", "batchmean", or
the strings "mse", "sse", "quadratic", "bce", "bce_with_logits", "cross_entropy", "l1", "nll".

Engine (``engine.py``): ``forward, loss_value, gradient, value_and_gradient, exact_gradient, closed_form,
parameter_symbols, init_values``; gradients keyed by state-dict name, values given as a state dict.
``from_network(net)`` / ``Network.to_sequential()`` give the MLP shorthand as (model, loss, l2).
``prove(model, in_shape, loss=)`` proves each distinct kind's backward rule on generic symbols, on the
small instance ``module.proof_case(in_shape)`` returns (override it for kinds with sizes).
``init_values`` uses ``in_features`` or a ``fan_in(in_shape)`` method for torch's U(-1/sqrt(fan_in), ...).

>>> from symprop.nn import Sequential, Linear, ReLU
>>> Sequential(Linear(2, 3), ReLU())[0]
Linear(in_features=2, out_features=3, bias=True)
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it. Submodules load on first use, so that the SymPy-free
# reference (``from symprop.nn import reference``) imports without SymPy, as symprop/__init__ does.
_LAZY = {
    "ACTIVATION_MODULES": "activation",
    "ActivationEntry": "activation",
    "Arith": "arith",
    "AvgPool1d": "pool",
    "AvgPool2d": "pool",
    "BCELoss": "loss",
    "BCEWithLogitsLoss": "loss",
    "BatchNorm1d": "norm",
    "Conv1d": "conv",
    "Conv2d": "conv",
    "CrossEntropyLoss": "loss",
    "Dropout": "dropout",
    "ELU": "activation",
    "FLOAT": "arith",
    "Flatten": "flatten",
    "GELU": "activation",
    "Identity": "activation",
    "KindProof": "proofs",
    "L1Loss": "loss",
    "LayerNorm": "norm",
    "LeakyReLU": "activation",
    "Linear": "linear",
    "Loss": "loss",
    "MP": "arith",
    "MSELoss": "loss",
    "MaxPool1d": "pool",
    "MaxPool2d": "pool",
    "ModelLoss": "engine",
    "Module": "module",
    "NLLLoss": "loss",
    "NNProofReport": "proofs",
    "QuadraticLoss": "loss",
    "REGISTRY": "activation",
    "ReLU": "activation",
    "Residual": "module",
    "SYMBOLIC": "arith",
    "Sequential": "module",
    "ShapeError": "module",
    "SiLU": "activation",
    "Sigmoid": "activation",
    "Softmax": "activation",
    "Softplus": "activation",
    "Tanh": "activation",
    "as_loss": "loss",
    "closed_form": "engine",
    "exact_gradient": "engine",
    "forward": "engine",
    "from_network": "convert",
    "gradient": "engine",
    "init_values": "engine",
    "l2_names": "engine",
    "loss_value": "engine",
    "network_gradient": "convert",
    "network_state_dict": "convert",
    "parameter_symbols": "engine",
    "prove": "proofs",
    "state_shapes": "engine",
    "value_and_gradient": "engine",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'symprop.nn' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
