"""The engine: ONE reverse pass, written once against the arithmetic, for every model of symprop.nn.

    forward(model, values, X)                      the model's output (N, *out_shape)
    loss_value(model, values, X, Y, loss=)         the scalar loss (+ l2 * sum of squared weights)
    gradient(model, values, X, Y, loss=)           {state-dict name: d loss / d parameter} (parameter shapes)
    value_and_gradient(...)                        both from one forward pass
    closed_form(model, X, Y, loss=)                the loss as a SymPy expression of the parameter symbols
    parameter_symbols(model, in_shape)             {state-dict name: object array of SymPy symbols}
    exact_gradient(model, values, X, Y, loss=)     gradient in MP(dps) (default 60 digits)
    init_values(model, in_shape, seed)             torch-like random initial values (a state dict)

``values`` is a state dict {"0.weight": array, "0.bias": ..., "1.running_mean": ...} (torch tensors
accepted); buffers not used by the forward pass may be omitted.  ``arith`` is ``FLOAT`` (default),
``MP(dps)`` or ``SYMBOLIC``; with SYMBOLIC and ``values=None`` the parameters are symbols, so the
result is the symbolic reverse pass.  ``X`` has shape (N, *in_shape); ``Y`` is the target (labels for
CrossEntropyLoss/NLLLoss may be integer arrays (N,)).  ``l2`` adds l2 * sum(p**2) over each layer's
``l2_params`` (the "weight" of Linear layers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..errors import UnsupportedError, listing, suggest
from .arith import FLOAT, MP, SYMBOLIC, Arith
from .loss import Loss, as_loss
from .module import Module, ShapeError

__all__ = [
    "ModelLoss",
    "check_model",
    "closed_form",
    "data_array",
    "exact_gradient",
    "forward",
    "gradient",
    "init_values",
    "l2_names",
    "loss_value",
    "parameter_symbols",
    "state_arrays",
    "state_shapes",
    "value_and_gradient",
]


class ModelLoss(NamedTuple):
    """A model with its loss and l2 coefficient (what ``Network.to_sequential()`` returns)."""

    model: Module
    loss: Loss
    l2: Any = 0


def check_model(model: Any) -> Module:
    """Return ``model`` if it is a symprop.nn Module; otherwise a one-line TypeError saying what is valid."""
    if not isinstance(model, Module):
        raise TypeError(
            f"model must be a symprop.nn module such as Sequential(Linear(2, 3), ReLU()), got {type(model).__name__}"
        )
    return model


def _check_arith(arith: Any) -> Arith:
    if not isinstance(arith, Arith):
        raise TypeError(f"arith must be FLOAT, MP(dps) or SYMBOLIC (from symprop.nn), got {arith!r}")
    return arith


def state_shapes(model: Module, in_shape: tuple[int, ...]) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """(parameter shapes, buffer shapes) by state-dict name, in torch's order."""
    check_model(model)
    return model.param_shapes(tuple(in_shape)), model.buffer_shapes(tuple(in_shape))


def l2_names(model: Module, in_shape: tuple[int, ...]) -> tuple[str, ...]:
    """The state-dict names of the parameters the l2 penalty covers."""
    out = []
    for prefix, leaf, shape in model.leaves(tuple(in_shape)):
        own = leaf.param_shapes(shape)
        out += [f"{prefix}.{p}" if prefix else p for p in leaf.l2_params if p in own]
    return tuple(out)


def _numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def _buffer_default(name: str, shape: tuple) -> np.ndarray:
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return np.ones(shape)
    return np.zeros(shape)


def _used_buffers(model: Module, in_shape) -> set[str]:
    used = set()
    for prefix, leaf, _shape in model.leaves(tuple(in_shape)):
        if getattr(leaf, "track_running_stats", False) and not getattr(leaf, "uses_batch_stats", True):
            used |= {f"{prefix}.{b}" if prefix else b for b in ("running_mean", "running_var")}
    return used


def state_arrays(model: Module, values: Any, in_shape, ar: Arith) -> tuple[dict, dict]:
    """Validate a state dict against the model and return ``(params, buffers)`` as arrays of ``ar``.

    Unknown or missing names, wrong shapes and non-finite entries are refused with one line naming the entry.
    With ``values=None`` and ``ar=SYMBOLIC`` the parameters are the model's SymPy symbols.
    """
    pshapes, bshapes = state_shapes(model, in_shape)
    if values is None:
        if ar is SYMBOLIC or isinstance(ar, type(SYMBOLIC)):
            params = parameter_symbols(model, in_shape)
            buffers = {k: ar.asarray(_buffer_default(k, s)) for k, s in bshapes.items()}
            missing = sorted(_used_buffers(model, in_shape))
            if missing:
                raise ValueError(f"values=None: the evaluation-mode buffers {listing(missing)} need values")
            return params, buffers
        raise TypeError(
            "values are required: a state dict {name: array} with "
            + listing([f"{k} {v}" for k, v in pshapes.items()])
            + " (values=None gives parameter symbols only with arith=SYMBOLIC)"
        )
    if not isinstance(values, Mapping):
        raise TypeError(
            f"values must be a state dict {{name: array}} such as model.state_dict() in torch, "
            f"got {type(values).__name__}"
        )
    known = list(pshapes) + list(bshapes)
    unknown = [k for k in values if k not in pshapes and k not in bshapes]
    if unknown:
        raise ValueError(
            f"unknown state-dict name(s) {listing(map(str, unknown))}; valid: {listing(known)}."
            + suggest(str(unknown[0]), known)
        )
    missing = [k for k in pshapes if k not in values]
    if missing:
        raise ValueError(
            f"missing value(s) for {listing(missing)} (shapes " + listing([f"{k} {pshapes[k]}" for k in missing]) + ")"
        )
    missing_buffers = [k for k in sorted(_used_buffers(model, in_shape)) if k not in values]
    if missing_buffers:
        raise ValueError(
            f"missing buffer value(s) {listing(missing_buffers)}: the model is in evaluation mode and "
            "uses its running statistics"
        )
    params, buffers = {}, {}
    for out, shapes in ((params, pshapes), (buffers, bshapes)):
        for k, shape in shapes.items():
            v = _numpy(values[k]) if k in values else _buffer_default(k, shape)
            arr = np.asarray(v) if not isinstance(v, np.ndarray) else v
            if arr.shape != tuple(shape):
                raise ShapeError(f'value of "{k}" has shape {arr.shape}, expected {tuple(shape)}')
            if arr.dtype != object and arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                raise ValueError(f'value of "{k}" must be finite, got a non-finite entry')
            out[k] = ar.asarray(arr)
    return params, buffers


def data_array(ar: Arith, X: Any, what: str = "X") -> np.ndarray:
    """``X`` (array or torch tensor) as an array of ``ar``; refused unless it has a batch dimension."""
    X = _numpy(X)
    arr = ar.asarray(X)
    if arr.ndim < 2:
        raise ShapeError(f"{what} must have shape (N, *in_shape) with a batch dimension, got shape {arr.shape}")
    return arr


def _in_shape(X: Any) -> tuple[int, ...]:
    return tuple(np.shape(_numpy(X))[1:])


def forward(model: Module, values: Any, X: Any, *, arith: Arith = FLOAT) -> np.ndarray:
    """The model's output for inputs X (N, *in_shape)."""
    check_model(model)
    ar = _check_arith(arith)
    x = data_array(ar, X)
    params, buffers = state_arrays(model, values, x.shape[1:], ar)
    y, _ = model.forward(ar, x, params, buffers)
    return y


def _run(model, values, X, Y, loss, arith, l2, want_grad):
    ar = _check_arith(arith)
    check_model(model)
    loss = as_loss(loss)
    x = data_array(ar, X)
    params, buffers = state_arrays(model, values, x.shape[1:], ar)
    out, back = model.forward(ar, x, params, buffers)
    value, loss_back = loss.forward(ar, out, Y)
    penal = l2_names(model, x.shape[1:]) if l2 else ()
    lam = ar.const(l2) if l2 else None
    for name in penal:
        value = value + lam * ar.sum(params[name] * params[name])
    if not want_grad:
        return value, None
    # apply the chain rule, layer by layer, from the loss back to the first layer (X needs no gradient)
    _, grads = back(loss_back(), need_dx=False)
    for name in penal:
        grads[name] = grads[name] + (ar.const(2) * lam) * params[name]
    order = list(params)
    return value, {k: grads[k] for k in order}


def loss_value(
    model: Module, values: Any, X: Any, Y: Any, *, loss: Any = "mse", arith: Arith = FLOAT, l2: Any = 0
) -> Any:
    """The scalar loss (plus l2 * sum of the squared weights)."""
    return _run(model, values, X, Y, loss, arith, l2, False)[0]


def value_and_gradient(
    model: Module, values: Any, X: Any, Y: Any, *, loss: Any = "mse", arith: Arith = FLOAT, l2: Any = 0, tie: Any = None
) -> tuple[Any, dict[str, np.ndarray]]:
    """(loss, {state-dict name: gradient}) from one forward and one reverse pass."""
    if tie is not None:
        raise UnsupportedError("symprop.nn: tied parameters (tie=) are not supported yet; pass tie=None")
    return _run(model, values, X, Y, loss, arith, l2, True)


def gradient(
    model: Module, values: Any, X: Any, Y: Any, *, loss: Any = "mse", arith: Arith = FLOAT, l2: Any = 0, tie: Any = None
) -> dict[str, np.ndarray]:
    """{state-dict name: d loss / d parameter}, each of the parameter's shape."""
    return value_and_gradient(model, values, X, Y, loss=loss, arith=arith, l2=l2, tie=tie)[1]


def exact_gradient(
    model: Module, values: Any, X: Any, Y: Any, *, loss: Any = "mse", l2: Any = 0, dps: int = 60
) -> dict[str, np.ndarray]:
    """The gradient in multi-precision arithmetic (``dps`` digits) from the exact binary values of the inputs."""
    return gradient(model, values, X, Y, loss=loss, arith=MP(dps), l2=l2)


# ----------------------------------------------------------------------------- symbols and closed forms


def _latex_name(name: str) -> str:
    """LaTeX of a state-dict name: "0.weight" -> W^{[0]}, "1.block.0.bias" -> b^{[1.block.0]}."""
    prefix, _, leaf = name.rpartition(".")
    base = {"weight": "W", "bias": "b", "running_mean": r"\hat{\mu}", "running_var": r"\hat{\sigma}^2"}.get(
        leaf, r"\mathrm{" + leaf.replace("_", r"\_") + "}"
    )
    return f"{base}^{{[{prefix}]}}" if prefix else base


def parameter_symbols(model: Module, in_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """{state-dict name: object array of real SymPy symbols}; entry "0.weight" [j, k] is the symbol named
    "0.weight[j,k]" (0-based, as numpy) printing in LaTeX as W^{[0]}_{j k}."""

    pshapes, _ = state_shapes(model, in_shape)
    out = {}
    for name, shape in pshapes.items():
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            label = f"{name}[{','.join(map(str, idx))}]" if idx else name
            arr[idx] = ParamSymbol(label, real=True)
        out[name] = arr
    return out


def _make_param_symbol():
    import sympy as sp

    class ParamSymbol(sp.Symbol):
        """A parameter entry's symbol: its name is the state-dict name with the index, "0.weight[1,2]"."""

        def _latex(self, printer, exp=None):
            name, _, index = self.name.partition("[")
            body = _latex_name(name)
            if index:
                sub = index.rstrip("]").replace(",", " ")
                body = f"{body}_{{{sub}}}"
            return body if exp is None else f"\\left({body}\\right)^{{{exp}}}"

    return ParamSymbol


ParamSymbol = _make_param_symbol()


def closed_form(model: Module, X: Any, Y: Any, loss: Any = "mse", *, l2: Any = 0, values: Any = None):
    """The loss over the data as a SymPy expression of the parameter symbols (see ``parameter_symbols``).

    ``values`` (optional, a partial state dict) fixes some parameters to numbers."""
    ar = SYMBOLIC
    x = data_array(ar, X)
    if values is not None:
        params = parameter_symbols(model, x.shape[1:])
        params |= {k: v for k, v in values.items() if k in params}
        values = params | {k: v for k, v in values.items() if k not in params}
    return _run(model, values, x, Y, loss, ar, l2, False)[0]


# ----------------------------------------------------------------------------- initial values


def init_values(model: Module, in_shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """A torch-like random state dict: Linear weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features))
    (torch's default kaiming_uniform(a=sqrt(5)) bound), norm weights 1 and biases 0, running_mean 0,
    running_var 1, num_batches_tracked 0.  (torch's own random stream is not reproduced.)"""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for prefix, leaf, shape in model.leaves(tuple(in_shape)):
        pre = f"{prefix}." if prefix else ""
        for name, s in leaf.param_shapes(shape).items():
            fan_in = getattr(leaf, "in_features", None)
            if fan_in is None and hasattr(leaf, "fan_in"):
                fan_in = leaf.fan_in(shape)
            if fan_in is not None:
                bound = 1.0 / np.sqrt(fan_in)
                out[pre + name] = rng.uniform(-bound, bound, size=s)
            else:
                out[pre + name] = np.ones(s) if name == "weight" else np.zeros(s)
        for name, s in leaf.buffer_shapes(shape).items():
            out[pre + name] = _buffer_default(name, s)
    return out
