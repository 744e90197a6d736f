"""PyTorch in one call: a ``torch.nn.Sequential`` as a symprop Network, and its own backward() checked exactly.

    net, values = symprop.from_torch(model, loss=torch.nn.MSELoss())
    report = symprop.verify_torch(model, X, Y, loss=torch.nn.CrossEntropyLoss())

Supported: ``Linear`` layers (with bias), each followed by at most one activation module (``ReLU``,
``LeakyReLU(negative_slope)``, ``Sigmoid``, ``Tanh``, ``Softplus`` (beta 1), ``ELU(alpha)``, ``SiLU``,
``Identity``), and ``Softmax(dim=-1 or 1)`` after the last Linear. Losses: ``MSELoss``, ``BCELoss``,
``BCEWithLogitsLoss`` (the logits module gets symprop's sigmoid output), ``CrossEntropyLoss`` (logits;
integer class labels or probability targets; the module gets symprop's softmax output), each with its
``reduction`` ("mean" or "sum"), or a symprop loss name. ``equivalents={MyModule: "tanh"}`` declares a
module equal to a supported activation; its forward is compared numerically before its backward is checked.
PyTorch is imported only when these functions are called (``pip install symprop[torch]``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import UnsupportedError, listing, plural
from .spec import Activation, Network, parse_activation

#: torch.nn module class name -> how to read it as a symprop activation
SUPPORTED_ACTIVATIONS = ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus", "ELU", "SiLU", "Identity", "Softmax")
SUPPORTED_LOSSES = ("MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss")


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - exercised only without torch
        raise ImportError("symprop.from_torch and verify_torch need PyTorch: pip install 'symprop[torch]'") from None
    return torch


def _supported_text() -> str:
    return f"Linear, {', '.join(SUPPORTED_ACTIVATIONS)} (Softmax after the last Linear only)"


def _activation(module: Any, position: str, equivalents: Mapping) -> Activation:
    torch = _torch()
    nn = torch.nn
    for cls, name in equivalents.items():
        if isinstance(module, cls):
            return parse_activation(name, f"equivalents[{cls.__name__}]")
    if isinstance(module, nn.ReLU):
        return Activation("relu")
    if isinstance(module, nn.LeakyReLU):
        return parse_activation(("leaky_relu", float(module.negative_slope)), position)
    if isinstance(module, nn.Sigmoid):
        return Activation("sigmoid")
    if isinstance(module, nn.Tanh):
        return Activation("tanh")
    if isinstance(module, nn.Softplus):
        if float(module.beta) != 1.0:
            raise UnsupportedError(
                f"{position}: Softplus(beta={module.beta}) is not supported; symprop's softplus is "
                "log(1 + e^z) (beta = 1)"
            )
        return Activation("softplus")
    if isinstance(module, nn.ELU):
        return parse_activation(("elu", float(module.alpha)), position)
    if isinstance(module, nn.SiLU):
        return Activation("silu")
    if isinstance(module, nn.Identity):
        return Activation("identity")
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, 1):
            raise UnsupportedError(
                f"{position}: Softmax(dim={module.dim}) is not supported; use dim=-1 (over the outputs)"
            )
        return Activation("softmax")
    raise UnsupportedError(
        f"{position}: {type(module).__name__} is not supported; supported modules: {_supported_text()}. "
        "If it computes a supported activation, declare it: equivalents={" + type(module).__name__ + ': "tanh"}'
    )


@dataclasses.dataclass
class _Parsed:
    layers: list[int]
    activations: list[Activation]
    linear_names: list[str]  # state-dict prefix of each Linear ("0", "2", ...)
    modules: list[tuple[str, Any, Activation | None]]  # (name, module, activation it was read as)


def _flattened(seq: Any, nn: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """The children of a Sequential, nested Sequentials expanded with dotted names ('0.1'), as the state dict names them."""
    out = []
    for name, child in seq.named_children():
        if isinstance(child, nn.Sequential):
            out += _flattened(child, nn, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", child))
    return out


def _parse_module(module: Any, equivalents: Mapping) -> _Parsed:
    torch = _torch()
    nn = torch.nn
    if isinstance(module, nn.Linear):
        children = [("", module)]
    elif isinstance(module, nn.Sequential):
        children = _flattened(module, nn)
    else:
        raise UnsupportedError(f"from_torch needs a torch.nn.Sequential (or one Linear), got {type(module).__name__}")
    if not children:
        raise ValueError("the Sequential is empty: it needs at least one Linear layer")
    layers: list[int] = []
    acts: list[Activation | None] = []
    names: list[str] = []
    mods: list[tuple[str, Any, Activation | None]] = []
    for name, child in children:
        where = f"module {name!r}" if name else "the module"
        if isinstance(child, nn.Linear) and not any(isinstance(child, cls) for cls in equivalents):
            if child.bias is None:
                raise UnsupportedError(f"{where}: Linear(bias=False) is not supported: symprop's layers have biases")
            if layers and layers[-1] != child.in_features:
                raise ValueError(
                    f"{where}: Linear({child.in_features}, {child.out_features}) follows a layer of "
                    f"{plural(layers[-1], 'output')}"
                )
            if not layers:
                layers.append(child.in_features)
            elif acts[-1] is None:
                acts[-1] = Activation("identity")  # two Linear layers in a row
            layers.append(child.out_features)
            acts.append(None)
            names.append(name)
            mods.append((name, child, None))
            continue
        act = _activation(child, where, equivalents)
        if not layers:
            raise UnsupportedError(f"{where}: {type(child).__name__} before the first Linear is not supported")
        if acts[-1] is not None:
            if act.name == "identity":
                mods.append((name, child, act))
                continue
            if acts[-1].name != "identity":
                raise UnsupportedError(f"{where}: two activations in a row ({acts[-1]} then {act}) are not supported")
        acts[-1] = act
        mods.append((name, child, act))
    activations = [a or Activation("identity") for a in acts]
    return _Parsed(layers, activations, names, mods)


# --------------------------------------------------------------------------- losses


@dataclasses.dataclass(frozen=True)
class _Loss:
    name: str  # symprop loss name
    reduction: str | None
    output: str | None  # the output activation the loss adds (sigmoid for BCEWithLogits, softmax for CE)
    torch_fn: Any  # callable(out, target) computing the loss in torch


def _loss(loss: Any) -> _Loss:
    torch = _torch()
    nn = torch.nn
    if isinstance(loss, str):
        from .spec import parse_loss

        name = parse_loss(loss)
        return _Loss(name, None, None, None)
    if not isinstance(loss, nn.Module):
        raise TypeError(
            f"loss must be a torch loss module ({', '.join(SUPPORTED_LOSSES)}) or a symprop loss name, "
            f"got {type(loss).__name__}"
        )
    reduction = getattr(loss, "reduction", "mean")
    kind = type(loss).__name__
    if reduction not in ("mean", "sum"):
        raise UnsupportedError(f"{kind}(reduction={reduction!r}) is not supported: use 'mean' or 'sum' (a scalar loss)")
    if isinstance(loss, (nn.BCELoss, nn.BCEWithLogitsLoss)) and getattr(loss, "weight", None) is not None:
        raise UnsupportedError(f"{kind}(weight=...) is not supported")
    if isinstance(loss, nn.BCEWithLogitsLoss) and getattr(loss, "pos_weight", None) is not None:
        raise UnsupportedError("BCEWithLogitsLoss(pos_weight=...) is not supported")
    if isinstance(loss, nn.MSELoss):
        return _Loss("mse", reduction, None, loss)
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return _Loss("bce", reduction, "sigmoid", loss)
    if isinstance(loss, nn.BCELoss):
        return _Loss("bce", reduction, None, loss)
    if isinstance(loss, nn.CrossEntropyLoss):
        if loss.weight is not None or loss.label_smoothing != 0.0:
            raise UnsupportedError("CrossEntropyLoss with weight= or label_smoothing= is not supported")
        return _Loss("cross_entropy", reduction, "softmax", loss)
    raise UnsupportedError(
        f"loss {kind} is not supported; supported: {', '.join(SUPPORTED_LOSSES)} or a symprop "
        "loss name (mse, sse, quadratic, bce, cross_entropy)"
    )


def _shared(parsed: _Parsed) -> dict[tuple[int, str], tuple[int, str]]:
    """(layer, "weight"|"bias") -> the first (layer, kind) holding the same torch Parameter (1-based layers)."""
    linears = [m for _, m, a in parsed.modules if a is None]
    first: dict[int, tuple[int, str]] = {}
    out = {}
    for l, lin in enumerate(linears, start=1):
        for kind in ("weight", "bias"):
            param = getattr(lin, kind)
            if id(param) in first:
                out[(l, kind)] = first[id(param)]
            else:
                first[id(param)] = (l, kind)
    return out


def _ties(parsed: _Parsed, untied: Network) -> dict[str, list[str]]:
    """Network(tie=...) for torch Parameters shared by several Linear modules: one tie per entry."""
    tie: dict[str, list[str]] = {}
    by_slot = {(p.layer, "weight" if p.kind == "w" else "bias", p.index): p.name for p in untied.param_infos}
    for (l, kind), (l0, kind0) in _shared(parsed).items():
        if kind != kind0:
            raise UnsupportedError(
                f"Linear {parsed.linear_names[l - 1]!r} uses Linear {parsed.linear_names[l0 - 1]!r}'s "
                f"{kind0} as its {kind}: only a weight shared as a weight (a bias as a bias) is supported"
            )
        for (layer, k, index), name in by_slot.items():
            if layer == l0 and k == kind0:
                key = f"tied_{name}"
                tie.setdefault(key, [name]).append(by_slot[(l, kind, index)])
    return tie


def _network(parsed: _Parsed, spec: _Loss, l2: Any = 0) -> Network:
    acts = list(parsed.activations)
    if spec.output is not None:
        kind = "BCEWithLogitsLoss" if spec.output == "sigmoid" else "CrossEntropyLoss"
        if acts[-1].name != "identity":
            raise UnsupportedError(
                f"{kind} takes logits, but the module ends in {acts[-1]}: remove it (the loss applies "
                f"the {spec.output} itself), or use "
                + ("BCELoss" if spec.output == "sigmoid" else "loss='cross_entropy'")
            )
        acts[-1] = Activation(spec.output)
    for i, act in enumerate(acts[:-1]):
        if act.name == "softmax":
            raise UnsupportedError(
                f"Softmax after Linear {parsed.linear_names[i]!r} is not supported: only after the last Linear"
            )
    untied = Network(parsed.layers, hidden=acts[:-1], output=acts[-1], loss=spec.name, reduction=spec.reduction, l2=l2)
    tie = _ties(parsed, untied)
    return (
        untied
        if not tie
        else Network(
            parsed.layers, hidden=acts[:-1], output=acts[-1], loss=spec.name, reduction=spec.reduction, l2=l2, tie=tie
        )
    )


def _use_nn(module: Any, loss: Any, equivalents: Mapping | None, nn: bool | None) -> bool:
    """True when the symprop.nn path (symprop/nn_torch.py) handles the module: forced (nn=True), or a module or
    loss the Network path does not support (nn=None); plain Linear + activation stacks keep the Network path."""
    if nn is not None or equivalents:
        return bool(nn)
    try:
        _network(_parse_module(module, {}), _loss(loss))
    except UnsupportedError:
        return True
    return False


def from_torch(
    module: Any, loss: Any = "mse", equivalents: Mapping | None = None, l2: Any = 0, *, nn: bool | None = None
) -> tuple[Any, Any]:
    """(Network, values) of a ``torch.nn.Sequential`` of Linear and activation modules with ``loss``.

    Any other module symprop.nn supports (LayerNorm, BatchNorm1d, GELU, Dropout, Flatten, nested Sequential,
    Linear without bias, L1Loss/NLLLoss, ...) gives ``(ModelLoss(model, loss, l2), state dict)`` instead
    (symprop.nn_torch.from_torch_model); ``nn=True`` forces that form for every module, ``nn=False`` the Network.

    ``values`` is ``(weights, biases)``: float64 copies of every Linear's weight (n_out, n_in) and bias.
    ``l2`` adds lam * sum(W**2) over every Linear's weight entries (as ``Network(l2=)``); a torch Parameter
    shared by several Linear modules becomes tied parameters (``Network(tie=)``), one per entry.
    """
    if _use_nn(module, loss, equivalents, nn):
        from .nn_torch import from_torch_model

        return from_torch_model(module, loss, l2)
    equivalents = dict(equivalents or {})
    parsed = _parse_module(module, equivalents)
    net = _network(parsed, _loss(loss), l2)
    linears = [m for _, m, a in parsed.modules if a is None]
    weights = [lin.weight.detach().cpu().double().numpy().copy() for lin in linears]
    biases = [lin.bias.detach().cpu().double().numpy().copy() for lin in linears]
    return net, (weights, biases)


# --------------------------------------------------------------------------- verify_torch


def _check_equivalents(parsed: _Parsed, equivalents: Mapping, module: Any, Xt: Any) -> None:
    """Every declared-equivalent module must compute its activation: compared on the inputs it sees and a grid."""
    if not equivalents:
        return
    torch = _torch()
    from . import reference

    seen: dict[str, Any] = {}
    hooks = []
    for name, child, act in parsed.modules:
        if act is not None and any(isinstance(child, cls) for cls in equivalents):
            hooks.append(
                child.register_forward_hook(lambda m, inp, out, name=name: seen.__setitem__(name, inp[0].detach()))
            )
    try:
        with torch.no_grad():
            module(Xt)
    finally:
        for h in hooks:
            h.remove()
    for name, child, act in parsed.modules:
        if name not in seen:
            continue
        z = seen[name]
        grid = torch.linspace(-6, 6, 121, dtype=z.dtype, device=z.device).reshape(-1, 1).expand(-1, z.shape[-1])
        z = torch.cat([z.reshape(-1, z.shape[-1]), grid])
        with torch.no_grad():
            got = child(z).cpu().double().numpy()
        zz = z.cpu().double().numpy()
        if act.name == "softmax":
            e = np.exp(zz - zz.max(axis=1, keepdims=True))
            want = e / e.sum(axis=1, keepdims=True)
        else:
            want = reference.ACTIVATIONS[act.name][0](zz, None if act.param is None else float(act.param))
        eps = float(torch.finfo(z.dtype).eps)
        err = np.abs(got - want)
        bound = 8 * eps * (np.abs(want) + 1)
        if got.shape != want.shape or np.any(err > bound):
            i = np.unravel_index(int(np.argmax(err - bound)), err.shape) if got.shape == want.shape else None
            at = f" at z = {zz[i]:.6g}: it gives {got[i]:.9g}, {act} gives {want[i]:.9g}" if i is not None else ""
            raise ValueError(
                f"module {name!r} ({type(child).__name__}) was declared equal to {act} but its forward differs{at}"
            )


def _torch_loss(spec: _Loss, net: Network) -> Any:
    """A callable(out, target) for a symprop loss name, as the network defines it."""
    torch = _torch()
    if spec.torch_fn is not None:
        return spec.torch_fn

    def fn(out, target):
        n = out.shape[0]
        scale = float(net.scale(n))
        if net.loss_name in ("mse", "sse", "quadratic"):
            ell = (out - target) ** 2
        elif net.loss_name == "bce":
            ell = -(target * torch.log(out) + (1 - target) * torch.log(1 - out))
        else:
            ell = -(target * torch.log(out))
        return scale * ell.sum()

    return fn


def verify_torch(
    module: Any,
    X: Any,
    Y: Any,
    loss: Any = "mse",
    *,
    equivalents: Mapping | None = None,
    l2: Any = 0,
    rtol: float | None = None,
    atol: float | None = None,
    oracle: str = "auto",
    label: str = "",
    nn: bool | None = None,
) -> Any:
    """Run the module's own forward and ``backward()`` on (X, Y) and check every ``.grad`` exactly.

    Returns a GradientReport whose rows are named as the state dict names the parameters, with an
    index (``0.weight[1,2]``, ``2.bias[0]``); float32 parameters get float32 tolerances. ``l2``: the loss
    that is backpropagated is ``loss + l2 * sum(W**2)`` over every Linear's weight (each use of a shared one).
    A Parameter shared by several Linear modules is checked once, as a tied parameter (its ``.grad`` is
    the sum over its uses).
    Every other module symprop.nn supports (see ``from_torch``; ``nn=True`` forces it) is checked by
    symprop.nn_torch.verify_torch_model: rows "0.weight[1,2]", blame per layer.
    """
    if _use_nn(module, loss, equivalents, nn):
        from .nn_torch import verify_torch_model

        return verify_torch_model(module, X, Y, loss, l2=l2, rtol=rtol, atol=atol, oracle=oracle, label=label)
    torch = _torch()
    from .verification import verify

    equivalents = dict(equivalents or {})
    parsed = _parse_module(module, equivalents)
    spec = _loss(loss)
    net = _network(parsed, spec, l2)
    linears = [m for _, m, a in parsed.modules if a is None]
    param = linears[0].weight
    dtype, device = param.dtype, param.device
    if dtype not in (torch.float32, torch.float64):
        raise UnsupportedError(f"the module's parameters are {dtype}; verify_torch checks float32 and float64")
    Xt = (
        X.detach().to(device=device, dtype=dtype)
        if torch.is_tensor(X)
        else torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype, device=device)
    )
    Yt = Y.detach().to(device) if torch.is_tensor(Y) else torch.as_tensor(np.asarray(Y))
    labels = spec.name == "cross_entropy" and Yt.dtype in (
        torch.int64,
        torch.int32,
        torch.int16,
        torch.uint8,
        torch.int8,
    )
    Yt = Yt.long() if labels else Yt.to(device=device, dtype=dtype)
    if Xt.ndim == 1:
        Xt = Xt.reshape(-1, 1) if net.n_inputs == 1 else Xt.reshape(1, -1)
    if not labels and Yt.ndim == 1:
        Yt = Yt.reshape(-1, 1) if net.n_outputs == 1 else Yt.reshape(1, -1)
    _check_equivalents(parsed, equivalents, module, Xt)

    for lin in linears:
        lin.weight.grad = None
        lin.bias.grad = None
    out = module(Xt)
    value = _torch_loss(spec, net)(out, Yt)
    if net.l2:
        value = value + float(net.l2) * sum((lin.weight**2).sum() for lin in linears)
    value.backward()

    Y_np = Yt.cpu().numpy()
    values = (
        [lin.weight.detach().cpu().double().numpy() for lin in linears],
        [lin.bias.detach().cpu().double().numpy() for lin in linears],
    )
    missing = [
        f"{n}.{kind}"
        for n, lin in zip(parsed.linear_names, linears)
        for kind in ("weight", "bias")
        if getattr(lin, kind).grad is None
    ]
    if net.tie:  # one value per parameter: a shared Parameter's .grad already sums its uses
        grads: Any = {}
        for name in net.param_names:
            p = net.slots(name)[0]
            g = getattr(linears[p.layer - 1], "weight" if p.kind == "w" else "bias").grad
            grads[name] = np.float64("nan") if g is None else g.detach().cpu().numpy()[p.index]
    else:
        grads = (
            [
                lin.weight.grad if lin.weight.grad is not None else np.full(tuple(lin.weight.shape), np.nan)
                for lin in linears
            ],
            [lin.bias.grad if lin.bias.grad is not None else np.full(tuple(lin.bias.shape), np.nan) for lin in linears],
        )
    report = verify(
        grads,
        net,
        values,
        Xt.detach().cpu().double().numpy(),
        Y_np,
        rtol=rtol,
        atol=atol,
        dtype="float32" if dtype == torch.float32 else "float64",
        oracle=oracle,
        label=label or f"{type(module).__name__} with {type(loss).__name__ if not isinstance(loss, str) else loss}",
    )
    if missing:
        report.problems.append(f"no .grad after backward() for {listing(missing)} (requires_grad=False?)")
    return _renamed(report, net, parsed.linear_names)


def state_dict_names(net: Network, linear_names: list[str]) -> dict[str, str]:
    """symprop parameter name -> the state dict's name with an index, e.g. w1_2_3 -> '0.weight[1,2]'."""
    out = {}
    for name in net.param_names:
        p = net.slots(name)[0]  # a shared Parameter is named by its first module, as named_parameters() does
        prefix = linear_names[p.layer - 1]
        prefix = f"{prefix}." if prefix else ""
        out[name] = f"{prefix}weight[{p.row},{p.col}]" if p.kind == "w" else f"{prefix}bias[{p.row}]"
    return out


def _renamed(report: Any, net: Network, linear_names: list[str]) -> Any:
    names = state_dict_names(net, linear_names)
    report.rows = [dataclasses.replace(r, name=names[r.name]) for r in report.rows]
    report.aliases = {v: k for k, v in names.items()}
    report.layer_names = [f"module {n!r}" for n in linear_names]
    report.diagnoses = [
        d
        if d.layer is None
        else dataclasses.replace(d, message=f"{d.message} [layer {d.layer} is module {linear_names[d.layer - 1]!r}]")
        for d in report.diagnoses
    ]
    return report
