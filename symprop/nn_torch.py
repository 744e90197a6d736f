"""torch.nn modules as symprop.nn models: ``from_torch`` / ``verify_torch`` for every module symprop.nn supports.

    (model, loss, l2), values = symprop.nn_torch.from_torch_model(torch_module, torch.nn.CrossEntropyLoss())
    report = symprop.verify_torch(torch_module, X, Y, loss=torch.nn.MSELoss())   # any supported module

Modules: ``Linear`` (bias or not), ``ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, ELU, SiLU, GELU`` (both
``approximate``), ``Identity, Softmax(dim)``, ``LayerNorm`` (affine or not), ``BatchNorm1d`` (training mode:
batch statistics; eval mode: its running statistics), ``Dropout`` (eval mode; in training mode, in
``verify_torch``, the mask the forward pass drew is replayed from torch's random state and checked against its
output), ``Flatten``, nested ``Sequential``; a module whose class is
named ``Residual`` with one child ``block`` is read as symprop's ``Residual`` (y = x + block(x)), and
``verify_torch`` compares every module's forward with symprop's reading before it trusts the gradients.
Losses: ``MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss`` with their
``reduction`` ("mean"/"sum"), or a symprop loss name.  Values are the module's state dict (float64 copies),
gradients are keyed by the same names ("0.weight").  ``symprop.from_torch``/``verify_torch`` keep their
Network path for plain Linear + activation stacks and come here for everything else (``nn=True`` forces it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import nn
from .errors import UnsupportedError, listing, suggest

__all__ = ["SUPPORTED_MODULES", "from_torch_model", "torch_loss", "torch_module", "verify_torch_model"]

SUPPORTED_MODULES = (
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "ELU",
    "SiLU",
    "GELU",
    "Identity",
    "Softmax",
    "LayerNorm",
    "BatchNorm1d",
    "Dropout",
    "Flatten",
    "Sequential",
    "Residual (block)",
)
SUPPORTED_TORCH_LOSSES = ("MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss")


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - exercised only without torch
        raise ImportError("symprop's torch functions need PyTorch: pip install 'symprop[torch]'") from None
    return torch


def _where(name: str) -> str:
    return f"module {name!r}" if name else "the module"


def torch_module(module: Any, masks: Mapping[str, np.ndarray] | None = None, name: str = "") -> nn.Module:
    """The symprop.nn module computing what ``module`` computes (same arguments, same training flag).

    ``masks``: module name -> the 0/1 mask a training-mode Dropout drew (see ``verify_torch_model``)."""
    T = _torch().nn
    masks = masks or {}
    m = module
    train = bool(m.training)
    pre = f"{name}." if name else ""
    if isinstance(m, T.Sequential):
        return nn.Sequential(*[torch_module(c, masks, pre + k) for k, c in m.named_children()], training=train)
    if type(m).__name__ == "Residual" and [k for k, _ in m.named_children()] == ["block"]:
        return nn.Residual(torch_module(m.block, masks, pre + "block"), training=train)
    if isinstance(m, T.Linear):
        return nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, training=train)
    if isinstance(m, T.LayerNorm):
        return nn.LayerNorm(
            tuple(m.normalized_shape),
            eps=m.eps,
            elementwise_affine=m.elementwise_affine,
            bias=m.bias is not None if m.elementwise_affine else True,
            training=train,
        )
    if isinstance(m, T.BatchNorm1d):
        return nn.BatchNorm1d(
            m.num_features,
            eps=m.eps,
            momentum=m.momentum,
            affine=m.affine,
            track_running_stats=m.track_running_stats,
            training=train,
        )
    if isinstance(m, T.Dropout):
        if train and m.p > 0:
            if name not in masks:
                raise UnsupportedError(
                    f"{_where(name)}: Dropout(p={m.p}) in training mode draws a random mask; "
                    "verify_torch reads it back from the forward pass (from_torch cannot): "
                    "call module.eval(), or build symprop.nn.Dropout(p, mask=...)"
                )
            return nn.Dropout(m.p, mask=masks[name], training=True)
        return nn.Dropout(m.p, training=train)
    if isinstance(m, T.Flatten):
        return nn.Flatten(m.start_dim, m.end_dim, training=train)
    if isinstance(m, T.Softmax):
        if m.dim is None:
            raise UnsupportedError(f"{_where(name)}: Softmax(dim=None) is deprecated in torch; give dim (e.g. -1)")
        return nn.Softmax(dim=m.dim, training=train)
    simple = {T.ReLU: nn.ReLU, T.Sigmoid: nn.Sigmoid, T.Tanh: nn.Tanh, T.SiLU: nn.SiLU, T.Identity: nn.Identity}
    for cls, ours in simple.items():
        if type(m) is cls:
            return ours(training=train)
    if isinstance(m, T.LeakyReLU):
        return nn.LeakyReLU(float(m.negative_slope), training=train)
    if isinstance(m, T.ELU):
        return nn.ELU(float(m.alpha), training=train)
    if isinstance(m, T.Softplus):
        return nn.Softplus(float(m.beta), float(m.threshold), training=train)
    if isinstance(m, T.GELU):
        return nn.GELU(approximate=m.approximate, training=train)
    kind = type(m).__name__
    raise UnsupportedError(
        f"{_where(name)}: {kind} is not supported; supported modules: {', '.join(SUPPORTED_MODULES)}."
        + suggest(kind, SUPPORTED_MODULES)
    )


def torch_loss(loss: Any) -> nn.Loss:
    """The symprop.nn loss of a torch loss module (same class name and reduction), or of a loss name."""
    if isinstance(loss, (str, nn.Loss)) or (isinstance(loss, type) and issubclass(loss, nn.Loss)):
        return nn.as_loss(loss)
    T = _torch().nn
    if not isinstance(loss, T.Module):
        raise TypeError(
            f"loss must be a torch loss module ({', '.join(SUPPORTED_TORCH_LOSSES)}), a symprop.nn loss "
            f"or a loss name, got {type(loss).__name__}"
        )
    kind = type(loss).__name__
    if kind not in SUPPORTED_TORCH_LOSSES:
        raise UnsupportedError(
            f"loss {kind} is not supported; supported: {', '.join(SUPPORTED_TORCH_LOSSES)}."
            + suggest(kind, SUPPORTED_TORCH_LOSSES)
        )
    for attr in ("weight", "pos_weight"):
        if getattr(loss, attr, None) is not None:
            raise UnsupportedError(f"{kind}({attr}=...) is not supported")
    if getattr(loss, "label_smoothing", 0.0):
        raise UnsupportedError(f"{kind}(label_smoothing={loss.label_smoothing}) is not supported")
    reduction = loss.reduction
    if reduction not in ("mean", "sum"):
        raise UnsupportedError(f"{kind}(reduction={reduction!r}) is not supported: use 'mean' or 'sum' (a scalar loss)")
    return getattr(nn, kind)(reduction=reduction)


def _state_dict(module: Any) -> dict[str, np.ndarray]:
    out = {}
    for k, v in module.state_dict().items():
        arr = v.detach().cpu()
        out[k] = arr.double().numpy().copy() if arr.is_floating_point() else arr.numpy().copy()
    return out


def _check_unshared(module: Any) -> None:
    seen: dict[int, str] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            raise UnsupportedError(
                f"parameter {name!r} is the same torch Parameter as {seen[id(p)]!r}: shared "
                "parameters are supported for Linear + activation stacks only (symprop.from_torch)"
            )
        seen[id(p)] = name


def from_torch_model(
    module: Any, loss: Any = "mse", l2: Any = 0, masks: Mapping[str, np.ndarray] | None = None
) -> tuple[nn.ModelLoss, dict[str, np.ndarray]]:
    """(ModelLoss(model, loss, l2), state dict as float64 arrays) of a torch module and loss."""
    T = _torch().nn
    if not isinstance(module, T.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    _check_unshared(module)
    model = torch_module(module, masks)
    return nn.ModelLoss(model, torch_loss(loss), l2), _state_dict(module)


def _dropout_hooks(module: Any, record: dict) -> list:
    """Record, in call order, the input and output of every training-mode Dropout."""
    T = _torch().nn
    hooks = []
    for name, child in module.named_modules():
        if isinstance(child, T.Dropout) and child.training and child.p > 0:

            def hook(m, inp, out, name=name):
                if name in record:
                    raise UnsupportedError(
                        f"{_where(name)}: a Dropout called twice in one forward pass is not supported"
                    )
                record[name] = (inp[0].detach(), out.detach(), float(m.p))

            hooks.append(child.register_forward_hook(hook))
    return hooks


def _masks(record: dict, rng_state: Any) -> dict[str, np.ndarray]:
    """The masks the training-mode Dropouts drew: replayed from the random state before the forward pass (the
    Dropouts are the only modules that draw), and checked against every output entry whose input is not 0."""
    if not record:
        return {}
    torch = _torch()
    F = torch.nn.functional
    out = {}
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(rng_state)
        for name, (inp, res, p) in record.items():  # dicts keep the call order
            mask = (F.dropout(torch.ones_like(inp), p, training=True) != 0).cpu().numpy()
            x, y = inp.cpu().numpy(), res.cpu().numpy()
            seen = x != 0
            if not np.array_equal(mask[seen], (y != 0)[seen]):
                raise UnsupportedError(
                    f"{_where(name)}: the Dropout mask could not be read back from torch's random "
                    "state (another module draws random numbers?); call module.eval() or give "
                    "symprop.nn.Dropout a mask"
                )
            out[name] = mask.astype(np.int64)
    return out


def _tensor(torch, value: Any, dtype, device):
    if torch.is_tensor(value):
        return value.detach().to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)


def verify_torch_model(
    module: Any,
    X: Any,
    Y: Any,
    loss: Any = "mse",
    *,
    l2: Any = 0,
    rtol: float | None = None,
    atol: float | None = None,
    oracle: str = "auto",
    label: str = "",
) -> Any:
    """Run the module's own forward and ``backward()`` on (X, Y) and check every parameter's ``.grad``
    against symprop.nn's exact gradient (a ``ModelGradientReport`` with rows "0.weight[1,2]" and a per-layer
    blame).  The module is left as it was: its buffers (BatchNorm running statistics, which a training-mode
    forward updates) are restored; its ``.grad`` hold the result of this backward pass."""
    torch = _torch()
    from .nn_verify import verify_model

    T = torch.nn
    if not isinstance(module, T.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    _check_unshared(module)
    spec = torch_loss(loss)
    params = dict(module.named_parameters())
    if not params:
        raise ValueError("the module has no parameters: there is no gradient to check")
    first = next(iter(params.values()))
    dtype, device = first.dtype, first.device
    if dtype not in (torch.float32, torch.float64):
        raise UnsupportedError(f"the module's parameters are {dtype}; verify_torch checks float32 and float64")
    torch_module(module, {n: None for n, m in module.named_modules() if isinstance(m, T.Dropout)})  # fail early
    values = _state_dict(module)  # before the forward pass (training-mode BatchNorm updates its buffers)
    saved = {k: b.detach().clone() for k, b in module.named_buffers()}
    Xt = _tensor(torch, X, dtype, device)
    Yt = Y.detach().to(device) if torch.is_tensor(Y) else torch.as_tensor(np.asarray(Y))
    if spec.takes_labels and not Yt.is_floating_point():
        Yt = Yt.long()
    else:
        Yt = Yt.to(device=device, dtype=dtype)
    record: dict = {}
    hooks = _dropout_hooks(module, record)
    rng_state = torch.get_rng_state()
    for p in params.values():
        p.grad = None
    try:
        out = module(Xt)
    finally:
        for h in hooks:
            h.remove()
    try:
        torch_fn = loss if isinstance(loss, T.Module) else None
        masks = _masks(record, rng_state)
        model = torch_module(module, masks)
        X64 = Xt.detach().cpu().double().numpy()
        Y_np = Yt.detach().cpu().numpy()
        Y_np = Y_np if not np.issubdtype(Y_np.dtype, np.floating) else Y_np.astype(np.float64)
        _check_forward(model, values, X64, out, dtype == torch.float32)
        if torch_fn is None:  # a symprop loss name or loss: its value in torch from symprop's definition
            value = _torch_value(spec, out, Yt)
        else:
            value = torch_fn(out, Yt)
        if l2:
            for name in nn.l2_names(model, X64.shape[1:]):
                value = value + float(l2) * (params[name] ** 2).sum()
        value.backward()
    finally:
        with torch.no_grad():
            for k, b in module.named_buffers():
                b.copy_(saved[k])
    grads = {k: (p.grad.detach().cpu().numpy() if p.grad is not None else None) for k, p in params.items()}
    missing = [k for k, g in grads.items() if g is None]
    grads = {k: g for k, g in grads.items() if g is not None}
    kinds = {n: type(m).__name__ for n, m in module.named_modules()}
    report = verify_model(
        grads,
        model,
        values,
        X64,
        Y_np,
        rtol=rtol,
        atol=atol,
        dtype="float32" if dtype == torch.float32 else "float64",
        loss=spec,
        l2=l2,
        oracle=oracle,
        label=label
        or f"torch {type(module).__name__} with {type(loss).__name__ if not isinstance(loss, str) else loss}",
        module_names=kinds,
    )
    if missing:
        report.problems.append(f"no .grad after backward() for {listing(missing)} (requires_grad=False?)")
    return report


def _check_forward(model: nn.Module, values: dict, X: np.ndarray, out: Any, single: bool) -> None:
    """The torch module's output must be symprop's reading of it (a Residual's forward, a custom subclass)."""
    got = out.detach().cpu().double().numpy()
    want = np.asarray(nn.forward(model, values, X), dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(f"the torch module's output has shape {got.shape}, symprop's reading of it {want.shape}")
    eps = float(np.finfo(np.float32 if single else np.float64).eps)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    if err > 1e4 * eps * scale:
        raise ValueError(
            f"the torch module's forward differs from symprop's reading of it ({model!r}) by {err:.3g}: "
            "a module overrides forward (a 'Residual' must compute x + block(x))"
        )


def _torch_value(spec: nn.Loss, out: Any, Y: Any) -> Any:
    """A symprop loss (e.g. QuadraticLoss) evaluated by torch, from its torch counterpart and its factor."""
    torch = _torch()
    F = torch.nn.functional
    kind = type(spec).__name__
    if kind == "QuadraticLoss":
        return ((out - Y) ** 2).sum() / (2 * out.shape[0])
    fn = {
        "MSELoss": F.mse_loss,
        "L1Loss": F.l1_loss,
        "BCELoss": F.binary_cross_entropy,
        "BCEWithLogitsLoss": F.binary_cross_entropy_with_logits,
        "CrossEntropyLoss": F.cross_entropy,
        "NLLLoss": F.nll_loss,
    }.get(kind)
    if fn is None or spec.reduction not in ("mean", "sum"):
        raise UnsupportedError(f"loss {spec!r} has no torch counterpart here; give a torch loss module")
    return fn(out, Y, reduction=spec.reduction)
