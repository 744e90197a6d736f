"""What network, which loss: frozen, validated specifications (NumPy only, no SymPy)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from .errors import UnsupportedError, listing, plural, suggest

# --------------------------------------------------------------------------- activations

#: canonical activation name -> (default parameter name, default value) or None
ACTIVATION_PARAMS: dict[str, tuple[str, Fraction] | None] = {
    "identity": None,
    "sigmoid": None,
    "tanh": None,
    "relu": None,
    "leaky_relu": ("slope", Fraction(1, 100)),
    "softplus": None,
    "elu": ("alpha", Fraction(1)),
    "silu": None,
    "softmax": None,
}
#: the valid range of each activation parameter: (low, high, what it is); the bounds are inclusive
ACTIVATION_RANGES: dict[str, tuple[Fraction, Fraction, str]] = {
    "leaky_relu": (
        Fraction(0),
        Fraction(1),
        "the slope for z < 0: 0 <= slope <= 1 (PyTorch's negative_slope, default 0.01; 1 is the identity)",
    ),
    "elu": (
        Fraction(0),
        Fraction(10**6),
        "the scale of e^z - 1 for z < 0: 0 <= alpha <= 1e6 (PyTorch's alpha, default 1)",
    ),
}
ACTIVATION_ALIASES = {"linear": "identity", "logistic": "sigmoid", "swish": "silu"}
ACTIVATION_NAMES = tuple(ACTIVATION_PARAMS) + tuple(ACTIVATION_ALIASES)


@dataclass(frozen=True)
class Activation:
    """An activation by canonical name, with its parameter (leaky_relu's slope, elu's alpha)."""

    name: str
    param: Fraction | None = None

    def __post_init__(self) -> None:
        if self.name not in ACTIVATION_PARAMS:
            raise ValueError(
                f'unknown activation "{self.name}"; valid: {listing(ACTIVATION_NAMES)}.'
                + suggest(self.name, ACTIVATION_NAMES)
            )
        default = ACTIVATION_PARAMS[self.name]
        if default is None and self.param is not None:
            raise ValueError(f'activation "{self.name}" takes no parameter (got {self.param})')
        if default is not None and self.param is None:
            object.__setattr__(self, "param", default[1])
        if self.param is not None:
            if not isinstance(self.param, Fraction):
                raise TypeError(f'activation "{self.name}": its {default[0]} must be a Fraction, got {self.param!r}')
            low, high, what = ACTIVATION_RANGES[self.name]
            if not low <= self.param <= high:
                raise ValueError(
                    f"activation {self.name}: {default[0]} = {_short(self.param)} is out of range; valid: {what}"
                )
            if 0 < abs(self.param) < _TINY:
                raise ValueError(
                    f"activation {self.name}: {default[0]} = {_short(self.param)} is below the smallest "
                    f"float64 (2.2e-308): a float program would use 0; valid: {what}"
                )

    @property
    def param_name(self) -> str | None:
        default = ACTIVATION_PARAMS[self.name]
        return default[0] if default else None

    def __repr__(self) -> str:
        default = ACTIVATION_PARAMS[self.name]
        if default is None or self.param == default[1]:
            return repr(self.name)
        return repr(f"{self.name}({_num_str(self.param)})")

    def __str__(self) -> str:
        return repr(self)[1:-1]


#: the smallest positive normal float64: a nonzero activation parameter below it is 0 in any float program
_TINY = Fraction(2.2250738585072014e-308)


def _short(value: Fraction) -> str:
    """A number for a message: its usual form, or 3 significant digits when it is huge or tiny (1e+400)."""
    if value == 0 or 1e-6 <= abs(value) <= 1e15:
        return _num_str(value)
    import decimal

    with decimal.localcontext() as c:
        c.prec, c.Emax, c.Emin = 4, decimal.MAX_EMAX, decimal.MIN_EMIN
        return f"{decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator):.2e}"


def _num_str(value: Fraction | None) -> str:
    if value is None:
        return ""
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    return repr(as_float) if Fraction(repr(as_float)) == value else str(value)


_ACT_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\(\s*(?:([A-Za-z_]+)\s*=\s*)?([^()]*?)\s*\))?\s*$")


def exact_number(value: Any, what: str) -> Fraction:
    """A decimal-faithful Fraction of a user number: 0.1 -> 1/10 (from its shortest repr)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, got a bool ({value!r})")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise ValueError(f"{what} must be finite, got {float(value)!r}")
        return Fraction(repr(float(value)))
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{what} must be a number, got {value!r}") from None
    try:  # Decimal, SymPy Rational/Float and friends
        return Fraction(str(value))
    except (ValueError, TypeError, ZeroDivisionError):
        raise TypeError(f"{what} must be a number, got {value!r} ({type(value).__name__})") from None


def parse_activation(obj: Any, where: str) -> Activation:
    """Accept 'tanh', 'leaky_relu(0.2)', 'elu(alpha=0.5)', ('leaky_relu', 0.2) or an Activation."""
    if isinstance(obj, Activation):
        return obj
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str):
        name, param = obj[0].strip().lower(), obj[1]
    elif isinstance(obj, str):
        m = _ACT_CALL.match(obj)
        if not m:
            raise ValueError(f"{where}: cannot read activation {obj!r}; write e.g. 'tanh' or 'leaky_relu(0.2)'")
        name, keyword, param = m.group(1).lower(), m.group(2), m.group(3)
        param = param if param else None
        canon = ACTIVATION_ALIASES.get(name, name)
        if keyword and ACTIVATION_PARAMS.get(canon) and keyword != ACTIVATION_PARAMS[canon][0]:
            raise ValueError(
                f"{where}: activation {canon} has parameter '{ACTIVATION_PARAMS[canon][0]}', not '{keyword}'"
            )
    else:
        raise TypeError(f"{where}: an activation is a name such as 'tanh' or 'leaky_relu(0.2)', got {obj!r}")
    name = ACTIVATION_ALIASES.get(name, name)
    if name not in ACTIVATION_PARAMS:
        raise ValueError(
            f'{where}: unknown activation "{name}"; valid: {listing(ACTIVATION_NAMES)}.'
            + suggest(name, ACTIVATION_NAMES)
        )
    value = None if param is None else exact_number(param, f"{where}: the parameter of {name}")
    try:
        return Activation(name, value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- losses

LOSSES = ("mse", "sse", "quadratic", "bce", "cross_entropy")
LOSS_ALIASES = {"ssr": "sse", "ce": "cross_entropy", "binary_cross_entropy": "bce", "mean_squared_error": "mse"}
LOSS_NAMES = LOSSES + tuple(LOSS_ALIASES)
#: which output activation each likelihood loss needs (so that a lies in (0, 1))
LOSS_OUTPUT = {"bce": "sigmoid", "cross_entropy": "softmax"}


#: PyTorch's reduction names: "mean" divides by the number of loss elements (N m; for cross_entropy N,
#: since its element is one sample's sum over the classes, as in torch.nn.CrossEntropyLoss), "sum" does
#: not divide, "batchmean" divides by the number of samples N
REDUCTIONS = ("mean", "sum", "batchmean")
#: what each loss name means without a reduction: mse = mean, sse = sum, quadratic = (1/2) batchmean ...
DEFAULT_REDUCTION = {"mse": "mean", "sse": "sum", "quadratic": "batchmean", "bce": "mean", "cross_entropy": "mean"}
#: losses whose element keeps a factor 1/2 under every reduction (the textbook quadratic cost)
HALVED = frozenset({"quadratic"})


def parse_reduction(obj: Any, loss: str) -> str:
    """The effective reduction: ``None`` gives the loss name's own definition (DEFAULT_REDUCTION)."""
    if obj is None:
        return DEFAULT_REDUCTION[loss]
    if not isinstance(obj, str):
        raise TypeError(f"reduction must be one of {', '.join(REDUCTIONS)} (or None), got {obj!r}")
    name = obj.strip().lower()
    if name not in REDUCTIONS:
        raise ValueError(
            f'unknown reduction "{obj}"; valid: {", ".join(REDUCTIONS)} (as in PyTorch).' + suggest(name, REDUCTIONS)
        )
    return name


def loss_scale(loss: str, reduction: str, n_samples: int, n_outputs: int) -> Fraction:
    """The factor in front of the double sum of ell(a, y) over N samples and m outputs, exactly."""
    if reduction == "sum":
        value = Fraction(1)
    elif reduction == "batchmean" or loss == "cross_entropy":
        value = Fraction(1, n_samples)
    else:
        value = Fraction(1, n_samples * n_outputs)
    return value / 2 if loss in HALVED else value


def loss_scale_text(loss: str, reduction: str) -> str:
    """The scale as text: '1/(N m)', '1', '1/(2N)' ..."""
    half = loss in HALVED
    if reduction == "sum":
        return "1/2" if half else "1"
    if reduction == "batchmean" or loss == "cross_entropy":
        return "1/(2N)" if half else "1/N"
    return "1/(2N m)" if half else "1/(N m)"


def parse_loss(obj: Any) -> str:
    if not isinstance(obj, str):
        raise TypeError(f"loss must be a name such as 'mse', got {obj!r}")
    name = obj.strip().lower()
    name = LOSS_ALIASES.get(name, name)
    if name not in LOSSES:
        raise ValueError(f'unknown loss "{obj}"; valid: {listing(LOSS_NAMES)}.' + suggest(obj, LOSS_NAMES))
    return name


# --------------------------------------------------------------------------- l2 and ties


def _parse_l2(value: Any) -> Fraction:
    lam = exact_number(value, "l2 (the coefficient lam of lam * sum(W**2))")
    if lam < 0:
        raise ValueError(f"l2 must be >= 0 (the coefficient lam of lam * sum(W**2) over the weights), got {value!r}")
    return lam


def _plain_number(value: Fraction) -> int | float | str:
    """An exact number as a plain Python value that exact_number reads back to the same Fraction."""
    if value.denominator == 1:
        return value.numerator
    as_float = float(value)
    return as_float if Fraction(repr(as_float)) == value else str(value)


_TIE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parse_tie(tie: Any, infos: tuple[ParamInfo, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Validate tie={"bh": ["b1", "b2"], ...}: groups of entries (by their names) sharing one parameter."""
    if tie is None:
        return ()
    if not isinstance(tie, Mapping):
        raise TypeError(f'tie must be a dict name -> list of parameter names, e.g. {{"bh": ["b1", "b2"]}}; got {tie!r}')
    order = {p.name: i for i, p in enumerate(infos)}
    names = tuple(order)
    owner: dict[str, str] = {}
    groups = []
    for name, entries in tie.items():
        if not isinstance(name, str) or not _TIE_NAME.match(name):
            raise ValueError(f"tie: a tied parameter's name must be an identifier such as 'bh', got {name!r}")
        if name in order:
            raise ValueError(
                f'tie: the name "{name}" is already a parameter of this network; choose a new name for the '
                f"shared parameter (e.g. '{name}_tied')"
            )
        if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
            raise TypeError(f'tie["{name}"] must be a list of at least 2 parameter names, got {entries!r}')
        if len(entries) < 2:
            raise ValueError(
                f'tie["{name}"] lists {len(entries)} parameter(s); a tie needs at least 2, e.g. ["b1", "b2"]'
            )
        for entry in entries:
            key = getattr(entry, "name", entry)
            if not isinstance(key, str):
                raise TypeError(f'tie["{name}"] lists parameters by name, got {entry!r}')
            if key not in order:
                raise ValueError(
                    f'tie["{name}"]: unknown parameter "{key}"; valid: {listing(names)}.' + suggest(key, names)
                )
            if key in owner:
                where = (
                    "twice in the same tie" if owner[key] == name else f'in both tie["{owner[key]}"] and tie["{name}"]'
                )
                raise ValueError(f'tie: parameter "{key}" is tied {where}; each entry can be tied once')
            owner[key] = name
        groups.append((name, tuple(sorted((getattr(e, "name", e) for e in entries), key=order.__getitem__))))
    return tuple(sorted(groups, key=lambda g: order[g[1][0]]))


# --------------------------------------------------------------------------- parameters


class ParamInfo(NamedTuple):
    """One trainable parameter: W^{[layer]}[row, col] (kind 'w') or b^{[layer]}[row] (kind 'b')."""

    name: str
    kind: str  # "w" or "b"
    layer: int  # 1-based weight layer
    row: int  # 0-based destination neuron
    col: int | None  # 0-based source neuron (weights only)

    @property
    def index(self) -> tuple[int, ...]:
        return (self.row,) if self.col is None else (self.row, self.col)


NAMINGS = ("default", "flat")


def _param_infos(layers: tuple[int, ...], naming: str) -> tuple[ParamInfo, ...]:
    infos: list[ParamInfo] = []
    w_count = b_count = 0
    for l in range(1, len(layers)):
        n_in, n_out = layers[l - 1], layers[l]
        for j in range(n_out):
            for k in range(n_in):
                w_count += 1
                name = f"w{w_count}" if naming == "flat" else f"w{l}_{j + 1}_{k + 1}"
                infos.append(ParamInfo(name, "w", l, j, k))
        for j in range(n_out):
            b_count += 1
            name = f"b{b_count}" if naming == "flat" else f"b{l}_{j + 1}"
            infos.append(ParamInfo(name, "b", l, j, None))
    return tuple(infos)


# --------------------------------------------------------------------------- the network


class Network:
    """A fully connected feed-forward network with its loss.

    ``reduction`` ("mean", "sum", "batchmean", PyTorch's meanings; None keeps the loss name's own
    scale), ``l2`` (adds l2 * sum(W**2) over every weight entry) and ``tie`` ({"bh": ["b1", "b2"]}: the
    listed entries share one parameter named by the key) are described in docs/losses.md.

    >>> Network([1, 2, 1], hidden="softplus", output="identity", loss="ssr", naming="flat")
    Network([1, 2, 1], hidden='softplus', output='identity', loss='ssr', naming='flat')
    """

    __slots__ = ("layers", "hidden", "output", "loss_name", "naming", "reduction", "l2", "tie", "__dict__")

    def __init__(
        self,
        layers: Sequence[int],
        hidden: Any = "sigmoid",
        output: Any = "identity",
        loss: str = "mse",
        naming: str = "default",
        reduction: str | None = None,
        l2: Any = 0,
        tie: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
            raise TypeError(f"layers must be a list of layer sizes such as [2, 3, 1], got {layers!r}")
        if len(layers) < 2:
            raise ValueError(f"layers needs at least an input and an output size, got {list(layers)!r}")
        for i, n in enumerate(layers):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"layers[{i}] must be a positive integer, got {n!r} in {list(layers)!r}")
        self.layers: tuple[int, ...] = tuple(int(n) for n in layers)
        n_hidden = len(self.layers) - 2

        if isinstance(hidden, (list, tuple)) and not (
            isinstance(hidden, tuple) and len(hidden) == 2 and isinstance(hidden[1], (int, float, Fraction))
        ):
            if len(hidden) != n_hidden:
                raise ValueError(
                    f"hidden lists {len(hidden)} activations but layers {list(self.layers)} has "
                    f"{n_hidden} hidden layer(s); give one name for all or one per hidden layer"
                )
            acts = tuple(parse_activation(h, f"hidden[{i}]") for i, h in enumerate(hidden))
        else:
            acts = (parse_activation(hidden, "hidden"),) * n_hidden
        for i, act in enumerate(acts):
            if act.name == "softmax":
                raise UnsupportedError(
                    f"softmax is supported in the output layer only, not in hidden layer {i + 1}; "
                    "use it as output='softmax'"
                )
        self.hidden: tuple[Activation, ...] = acts
        self.output: Activation = parse_activation(output, "output")
        self.loss_name: str = parse_loss(loss)
        #: the loss's name as the caller spelled it ("ssr" stays "ssr" in repr and kwargs; same network as "sse")
        self.loss_given: str = loss.strip().lower() if loss.strip().lower() in LOSS_ALIASES else self.loss_name
        need = LOSS_OUTPUT.get(self.loss_name)
        if need and self.output.name != need:
            raise UnsupportedError(
                f"loss {self.loss_name} needs output='{need}' (its prediction must be a probability), "
                f"got output='{self.output.name}'"
                + (" ; for a sigmoid output use loss='bce'" if self.output.name == "sigmoid" else "")
                + (" ; for a softmax output use loss='cross_entropy'" if self.output.name == "softmax" else "")
            )
        if not isinstance(naming, str) or naming not in NAMINGS:
            raise ValueError(
                f"naming must be one of {', '.join(NAMINGS)}, got {naming!r}" + suggest(str(naming), NAMINGS)
            )
        self.naming: str = naming
        #: the effective reduction ("mean", "sum" or "batchmean"); None in the call keeps the loss's own
        self.reduction: str = parse_reduction(reduction, self.loss_name)
        #: the exact coefficient lam of the penalty lam * sum(W**2) over every weight entry (not the biases)
        self.l2: Fraction = _parse_l2(l2)
        #: the tied parameters: (name, the entries it fills), groups and entries in network order
        self.tie: tuple[tuple[str, tuple[str, ...]], ...] = (
            _parse_tie(tie, _param_infos(self.layers, self.naming)) if tie is not None else ()
        )  # no entry named when untied

    # ----------------------------------------------------------------- identity and display
    def _key(self) -> tuple:
        return (self.layers, self.hidden, self.output, self.loss_name, self.naming, self.reduction, self.l2, self.tie)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Network) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: Any) -> None:
        if name in Network.__slots__ and hasattr(self, name):
            raise AttributeError(f"Network is immutable; build a new one instead of setting {name}")
        object.__setattr__(self, name, value)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this network; also the [network] table of a problem file."""
        out: dict[str, Any] = {"layers": list(self.layers)}
        hidden = [str(h) for h in self.hidden]
        if hidden:
            out["hidden"] = hidden[0] if len(set(hidden)) == 1 else hidden
        out |= {
            "output": str(self.output),
            "loss": self.__dict__.get("loss_given", self.loss_name),
            "naming": self.naming,
        }
        if self.reduction != DEFAULT_REDUCTION[self.loss_name]:
            out["reduction"] = self.reduction
        if self.l2:
            out["l2"] = _plain_number(self.l2)
        if self.tie:
            out["tie"] = {name: list(entries) for name, entries in self.tie}
        return out

    def __repr__(self) -> str:
        spec = self.kwargs()
        parts = [repr(spec.pop("layers"))] + [f"{key}={value!r}" for key, value in spec.items()]
        return f"Network({', '.join(parts)})"

    # notebook and IPython display (implemented in display.py, imported lazily: spec stays SymPy-free)
    def _repr_latex_(self) -> str:
        from .display import network_latex

        return network_latex(self)

    def _repr_html_(self) -> str:
        from .display import network_html

        return network_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from .display import network_pretty

        network_pretty(self, printer, cycle)

    # ----------------------------------------------------------------- structure
    @property
    def activations(self) -> tuple[Activation, ...]:
        """One activation per weight layer 1..L (hidden layers, then the output)."""
        return self.hidden + (self.output,)

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.layers) - 1

    @property
    def n_inputs(self) -> int:
        return self.layers[0]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1]

    @cached_property
    def param_infos(self) -> tuple[ParamInfo, ...]:
        """Every weight and bias *entry* in the fixed order: layer by layer, weights (row-major) then biases.

        Without ties each entry is one parameter. With ``tie=`` several entries share one parameter:
        ``param_of`` maps an entry's name to its parameter's, ``slots(name)`` gives a parameter's entries.
        """
        return _param_infos(self.layers, self.naming)

    @cached_property
    def param_of(self) -> dict[str, str]:
        """Entry name -> the name of the parameter it holds (itself unless it is tied)."""
        tied = {entry: name for name, entries in self.tie for entry in entries}
        return {p.name: tied.get(p.name, p.name) for p in self.param_infos}

    @cached_property
    def param_names(self) -> tuple[str, ...]:
        """The parameters, in the order of their first entries (a tied group appears once, by its name)."""
        return tuple(dict.fromkeys(self.param_of.values()))

    @cached_property
    def _slots(self) -> dict[str, tuple[ParamInfo, ...]]:
        out: dict[str, list[ParamInfo]] = {name: [] for name in self.param_names}
        for p in self.param_infos:
            out[self.param_of[p.name]].append(p)
        return {name: tuple(entries) for name, entries in out.items()}

    @cached_property
    def _info_by_name(self) -> dict[str, ParamInfo]:
        return {p.name: p for p in self.param_infos}

    @property
    def n_params(self) -> int:
        """The number of parameters (a tied group counts once)."""
        return len(self.param_names)

    @property
    def tied(self) -> dict[str, tuple[str, ...]]:
        """Tied parameter name -> the entries it fills."""
        return dict(self.tie)

    def slots(self, name: Any) -> tuple[ParamInfo, ...]:
        """The weight/bias entries that parameter ``name`` fills (one, unless it is tied)."""
        return self._slots[self.check_name(name)]

    def check_name(self, name: Any) -> str:
        """``name`` (a string or a symbol) if it names a parameter, else a ValueError that says what would."""
        key = getattr(name, "name", name)
        if not isinstance(key, str):
            raise TypeError(f"a parameter is named by a string or a symbol, got {name!r}")
        if key in self._slots:
            return key
        if key in self.param_of:
            owner = self.param_of[key]
            raise ValueError(f'"{key}" is tied into parameter "{owner}" ({", ".join(self.tied[owner])}); use "{owner}"')
        raise ValueError(
            f'unknown parameter "{key}" for {self!r}; valid: {listing(self.param_names)}.'
            + suggest(key, self.param_names)
        )

    def info(self, name: Any) -> ParamInfo:
        """The ParamInfo (layer, row, column) of a parameter or weight/bias entry given by name or symbol.

        A tied parameter fills several entries and has no single one: use ``slots(name)``.
        """
        key = getattr(name, "name", name)
        if isinstance(key, str) and key in self.tied:
            raise ValueError(
                f'"{key}" is a tied parameter filling {", ".join(self.tied[key])}: it has no single entry; '
                f'use net.slots("{key}")'
            )
        if isinstance(key, str) and key in self._info_by_name:
            return self._info_by_name[key]
        self.check_name(name)  # raises the error that names what is valid
        raise AssertionError("unreachable")

    def scale(self, n_samples: int) -> Fraction:
        """The exact factor in front of the sum of ell(a, y) over ``n_samples`` samples (loss and reduction)."""
        return loss_scale(self.loss_name, self.reduction, n_samples, self.n_outputs)

    @property
    def scale_text(self) -> str:
        """The scale in N and m as text, e.g. '1/(N m)'."""
        return loss_scale_text(self.loss_name, self.reduction)

    def weight_shapes(self) -> list[tuple[int, int]]:
        return [(self.layers[l + 1], self.layers[l]) for l in range(self.depth)]

    def shapes_text(self) -> str:
        return "; ".join(
            f"weights[{l}] {self.layers[l + 1]}x{self.layers[l]}, biases[{l}] ({self.layers[l + 1]},)"
            for l in range(self.depth)
        )

    # ----------------------------------------------------------------- symbolic and numeric API
    # (implemented in graph/derive/compile; imported lazily so that spec stays SymPy-free)
    @property
    def parameters(self):
        """The parameters as a tuple of real SymPy symbols, in the fixed order."""
        from .graph import parameter_symbols

        return parameter_symbols(self)

    def param(self, name: str):
        """The SymPy symbol of one parameter, by name (e.g. ``net.param("w3")``)."""
        return self.parameters[self.param_names.index(self.check_name(name))]

    @property
    def inputs(self):
        """Input symbols x1..x_n0 for per-sample forms."""
        from .graph import input_symbols

        return input_symbols(self)

    @property
    def targets(self):
        """Target symbols y1..y_nL for per-sample forms."""
        from .graph import target_symbols

        return target_symbols(self)

    def forward(self, X, exact: bool = False, fix=None):
        """Per-layer closed forms: a list over samples of (Z, A) lists (see graph.forward)."""
        from .graph import forward

        return forward(self, X, exact=exact, fix=fix)

    def predict(self, X, exact: bool = False, fix=None):
        """The network's outputs for every sample as a SymPy Matrix (N x n_L)."""
        from .graph import predict

        return predict(self, X, exact=exact, fix=fix)

    def loss(self, X, Y, exact: bool = False, fix=None):
        """The loss over the data as a closed-form SymPy expression of every (unfixed) parameter."""
        from .graph import loss_expr

        return loss_expr(self, X, Y, exact=exact, fix=fix)

    def gradient(self, X, Y, exact: bool = False, fix=None, values=None, method: str = "reverse", keys: str = "name"):
        """dict parameter name -> exact partial derivative of the loss (evaluated when ``values`` is given).

        Keyed by name like every other gradient (a symbol is accepted for lookups too);
        ``keys="symbol"`` keys it by the SymPy symbols instead.
        """
        from .chainrule import gradient

        return gradient(self, X, Y, exact=exact, fix=fix, values=values, method=method, keys=keys)

    def derivative(self, param, X, Y, exact: bool = False, fix=None, values=None, method: str = "reverse"):
        """The exact partial derivative of the loss with respect to one parameter."""
        from .chainrule import derivative

        return derivative(self, param, X, Y, exact=exact, fix=fix, values=values, method=method)

    def sample_loss(self):
        """The loss of one general sample (inputs and targets as symbols x1.., y1..)."""
        return self.loss([list(self.inputs)], [list(self.targets)])

    def sample_gradient(self, keys: str = "name"):
        """dict name -> derivative of the one-sample loss, inputs and targets as symbols (see ``gradient``)."""
        return self.gradient([list(self.inputs)], [list(self.targets)], keys=keys)

    def to_sequential(self):
        """The equivalent ``symprop.nn`` (model, loss, l2): a Sequential of Linear + activation layers
        with the same numbers (see symprop.nn.convert)."""
        from .nn.convert import from_network

        return from_network(self)

    def compile(self):
        """A CompiledNetwork: fast NumPy loss and exact gradient (cached per network)."""
        from .compile import compile_network

        return compile_network(self)

    def values_from_arrays(self, weights, biases) -> dict[str, float]:
        """Turn a (weights, biases) pair of array lists into a dict name -> float."""
        w, b = parse_values(self, (weights, biases))
        return arrays_to_dict(self, w, b)


# --------------------------------------------------------------------------- values


def _as_key(key: Any) -> str:
    name = getattr(key, "name", key)
    if not isinstance(name, str):
        raise TypeError(f"parameter values are keyed by name or symbol, got key {key!r}")
    return name


def values_mapping(net: Network, values: Any, *, require_all: bool = True) -> dict[str, Any]:
    """Normalise values to dict name -> the user's number (kept as given, for exact conversion).

    Accepts a mapping (name or symbol -> number) or a pair (weights, biases) of array lists.
    """
    if values is None:
        raise TypeError(
            "parameter values are required: a dict name -> number, or a pair (weights, biases) "
            f"of lists of arrays ({net.shapes_text()})"
        )
    if isinstance(values, Mapping):
        out: dict[str, Any] = {}
        unknown = []
        for key, value in values.items():
            name = _as_key(key)
            if name not in net._slots:
                if name in net.param_of:  # an entry tied into a shared parameter
                    net.check_name(name)
                unknown.append(name)
                continue
            if isinstance(value, (bool, str)) or np.ndim(value) != 0:
                raise TypeError(f'value of parameter "{name}" must be a single number, got {value!r}')
            out[name] = value
        if unknown:
            hint = suggest(unknown[0], net.param_names)
            raise ValueError(
                f"unknown parameter name(s) {listing(unknown)} for {net!r}; valid: {listing(net.param_names)}.{hint}"
            )
        if require_all:
            missing = [n for n in net.param_names if n not in out]
            if missing:
                raise ValueError(
                    f"missing value(s) for {len(missing)} of {net.n_params} parameters: {listing(missing)}"
                )
        for name, value in out.items():
            try:
                finite = np.isfinite(float(value))
            except (TypeError, ValueError):
                finite = True  # symbolic values are allowed in fix=
            if not finite:
                raise ValueError(f'value of parameter "{name}" must be finite, got {value!r}')
        return out
    w, b = parse_values(net, values)
    return arrays_to_dict(net, w, b)


def parse_values(net: Network, values: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Normalise values to float64 (weights, biases) lists in the W^{[l]} convention."""
    if isinstance(values, Mapping):
        mapping = values_mapping(net, values)
        weights = [np.zeros(s) for s in net.weight_shapes()]
        biases = [np.zeros(s[0]) for s in net.weight_shapes()]
        for name, value in mapping.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise TypeError(f'value of parameter "{name}" must be a number, got {value!r}') from None
            for p in net._slots[name] if net.tie else (net._info_by_name[name],):
                (weights if p.kind == "w" else biases)[p.layer - 1][p.index] = number
        return weights, biases
    if not (isinstance(values, (tuple, list)) and len(values) == 2):
        raise TypeError(
            "parameter values must be a dict name -> number or a pair (weights, biases) of lists of "
            f"arrays ({net.shapes_text()}); got {type(values).__name__}"
        )
    weights, biases = values
    for what, arrays in (("weights", weights), ("biases", biases)):
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)):
            raise TypeError(f"{what} must be a list with one array per layer ({net.shapes_text()})")
        if len(arrays) != net.depth:
            raise ValueError(
                f"{what} has {len(arrays)} array(s) but {net!r} has {net.depth} weight layer(s) ({net.shapes_text()})"
            )
    out_w, out_b = [], []
    for l, (w, b, shape) in enumerate(zip(weights, biases, net.weight_shapes())):
        w = _float_array(w, f"weights[{l}]")
        b = _float_array(b, f"biases[{l}]")
        if w.shape != shape:
            raise ValueError(
                f"weights[{l}] has shape {w.shape}, expected {shape} = (n_{l + 1}, n_{l}) "
                f"(W^[{l + 1}] maps {plural(shape[1], 'input')} to {plural(shape[0], 'neuron')})"
            )
        if b.shape == (shape[0], 1):
            b = b[:, 0]
        if b.shape != (shape[0],):
            raise ValueError(f"biases[{l}] has shape {b.shape}, expected ({shape[0]},)")
        out_w.append(w)
        out_b.append(b)
    if net.tie:
        _check_tied_equal(net, out_w, out_b)
    return out_w, out_b


def _entry_text(p: ParamInfo) -> str:
    return f"{'weights' if p.kind == 'w' else 'biases'}[{p.layer - 1}]{list(p.index)} ({p.name})"


def _check_tied_equal(net: Network, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> None:
    """Tied entries hold one parameter: given as arrays, they must hold the same number."""
    for name, _ in net.tie:
        slots = net._slots[name]
        first = slots[0]
        v0 = (weights if first.kind == "w" else biases)[first.layer - 1][first.index]
        for p in slots[1:]:
            v = (weights if p.kind == "w" else biases)[p.layer - 1][p.index]
            if v != v0:
                raise ValueError(
                    f'tied parameter "{name}" must have one value, but {_entry_text(first)} is {v0} and '
                    f"{_entry_text(p)} is {v}"
                )


def _float_array(a: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an array of numbers, got {a!r}") from None
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{what} must be finite; entry {tuple(int(i) for i in bad)} is {arr[tuple(bad)]}")
    return arr


def arrays_to_dict(net: Network, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> dict[str, float]:
    """Parameter *values* from arrays: dict name -> float (a tied parameter's value is its first entry's)."""
    if not net.tie:
        return {p.name: float((weights if p.kind == "w" else biases)[p.layer - 1][p.index]) for p in net.param_infos}
    out = {}
    for name, slots in net._slots.items():
        p = slots[0]
        out[name] = float((weights if p.kind == "w" else biases)[p.layer - 1][p.index])
    return out


def gradient_to_dict(
    net: Network, grad_weights: Sequence[np.ndarray], grad_biases: Sequence[np.ndarray]
) -> dict[str, float]:
    """A *gradient* from per-entry arrays: dict name -> float, a tied parameter's entries summed
    (the chain rule over its uses). Without ties it equals ``arrays_to_dict``."""
    if not net.tie:
        return arrays_to_dict(net, grad_weights, grad_biases)
    out = {}
    for name, slots in net._slots.items():
        terms = [float((grad_weights if p.kind == "w" else grad_biases)[p.layer - 1][p.index]) for p in slots]
        out[name] = terms[0] if len(terms) == 1 else math.fsum(terms)
    return out


# --------------------------------------------------------------------------- data


def as_matrix(data: Any, what: str, n_cols: int, *, numeric: bool = True) -> np.ndarray:
    """Shape data as (N, n_cols); 1-D is accepted when n_cols is 1 (N samples) or as one sample."""
    if data is None:
        raise TypeError(f"{what} is required (an array of shape (N, {n_cols}))")
    try:
        arr = np.asarray(data, dtype=np.float64 if numeric else object)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an array of numbers, got {type(data).__name__}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(-1, 1) if n_cols == 1 else arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != n_cols:
        raise ValueError(
            f"{what} has shape {np.shape(data)}, expected (N, {n_cols})"
            + (" or (N,)" if n_cols == 1 else "")
            + f": the network has {n_cols} {'inputs' if what == 'X' else 'outputs'}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty: at least one sample is needed")
    if numeric and not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{what} must be finite; entry {bad} is {arr[bad]}")
    return arr


def check_targets(net: Network, Y: np.ndarray) -> None:
    """Targets of the likelihood losses must be probabilities."""
    if net.loss_name in ("bce", "cross_entropy"):
        bad = np.argwhere((Y < 0) | (Y > 1))
        if bad.size:
            i = tuple(int(v) for v in bad[0])
            raise ValueError(
                f"{net.loss_name} targets must lie in [0, 1]; Y{list(i)} is {Y[i]} "
                f"({len(bad)} entr{'y' if len(bad) == 1 else 'ies'} out of range)"
            )


def class_labels(net: Network, Y: Any, n_samples: int) -> Any:
    """For cross_entropy with m > 1 outputs, Y of shape (N,) (or one column, (N, 1)) holds class indices
    0..m-1 (as in torch.nn.CrossEntropyLoss): return their one-hot rows (N, m) as integers; any other Y
    is returned as is.

    (A 1-D Y of length N cannot be one sample's probability row: that has length m and N = 1.)
    """
    if net.loss_name != "cross_entropy":
        return Y
    m = net.n_outputs
    if m == 1 or Y is None or isinstance(Y, (str, bytes)):
        return Y
    try:
        arr = np.asarray(Y)
    except (TypeError, ValueError):
        return Y
    if arr.ndim == 2 and arr.shape == (n_samples, 1):  # one column of labels (a CSV column, say)
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_samples or arr.dtype.kind not in "iuf":
        return Y
    if arr.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            i = int(bad[0][0])
            raise ValueError(
                f"cross_entropy class labels (Y of shape (N,) = ({n_samples},)) must be whole numbers 0..{m - 1}; "
                f"Y[{i}] is {arr[i]}"
            )
    labels = arr.astype(np.int64)
    bad = np.argwhere((labels < 0) | (labels >= m))
    if bad.size:
        i = int(bad[0][0])
        raise ValueError(
            f"cross_entropy class label Y[{i}] = {labels[i]} is out of range: the network has m = {m} classes, "
            f"so labels are 0..{m - 1} ({bad.shape[0]} label(s) out of range)"
        )
    return np.eye(m, dtype=np.int64)[labels]


def as_data(net: Network, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 data: X of shape (N, n0), Y of shape (N, nL) (or class labels (N,), see class_labels)."""
    X = as_matrix(X, "X", net.n_inputs)
    Y = as_matrix(class_labels(net, Y, X.shape[0]), "Y", net.n_outputs)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {plural(X.shape[0], 'sample')} but Y has {Y.shape[0]}; they must match")
    check_targets(net, Y)
    return X, Y
