"""Layouts: how a user's code holds samples, weights and biases, and the conversions to symprop's own.

symprop's own convention (``Layout()``, the default) is samples as rows (X of shape (N, n0)), weights
W^[l] of shape (n_out, n_in) (z = W a + b), flat biases (n,) and gradients returned as
``(grad_weights, grad_biases)``. ``Layout`` describes the other habits of hand-written backprop:

* ``samples``: ``"rows"`` (X is (N, n0)), ``"columns"`` (X is (n0, N)), ``"each"`` (the candidate is
  called once per sample with x (n0,) and y (nL,)) or ``"each_column"`` (x (n0, 1), y (nL, 1)). For
  the two per-sample modes X and Y are given as rows; the candidate returns the gradient of one
  sample's term, and symprop combines the terms as the loss does (``sample_factor``).
* ``weights``: ``"out_in"`` ((n_out, n_in)) or ``"in_out"`` ((n_in, n_out), the ``X @ W`` style).
* ``bias``: ``"flat"`` ((n,)), ``"column"`` ((n, 1)) or ``"row"`` ((1, n)).
* ``order``: ``"wb"`` for ``(grad_weights, grad_biases)`` or ``"bw"`` for ``(grad_biases, grad_weights)``.

A candidate may also return a mapping of layer arrays keyed ``W1, b1, W2, b2, ...`` (1-based; ``dW1``,
``db1`` are read the same way), per-layer pairs ``[(dW1, db1), (dW2, db2), ...]`` or a flat list
``[dW1, db1, dW2, db2, ...]`` (the order within a layer is ``order``; these two are recognised when only
they fit the shapes), all in the same layout. Values may be given as a pair or a mapping too.

This module is NumPy only. It converts values and data from the layout to symprop's own arrays,
builds the candidate's arguments in the layout, and reads what the candidate returned back, with
problems that say what the layout expected and what the shapes look like.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import listing, plural, suggest
from .spec import Network, as_data

SAMPLES = ("rows", "columns", "each", "each_column")
WEIGHTS = ("out_in", "in_out")
BIASES = ("flat", "column", "row")
ORDERS = ("wb", "bw")
FIELDS = {"samples": SAMPLES, "weights": WEIGHTS, "bias": BIASES, "order": ORDERS}
#: floating dtypes a gradient may have (the candidate's own dtype is reported)
FLOAT_DTYPES = ("float64", "float32", "float16")


@dataclass(frozen=True)
class Layout:
    """How samples, weights and biases are held (see the module docstring); the default is symprop's own."""

    samples: str = "rows"
    weights: str = "out_in"
    bias: str = "flat"
    order: str = "wb"

    def __post_init__(self) -> None:
        for key, valid in FIELDS.items():
            value = getattr(self, key)
            if not isinstance(value, str) or value not in valid:
                raise ValueError(
                    f"Layout {key} must be one of {', '.join(valid)}, got {value!r}" + suggest(str(value), valid)
                )

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, obj: Any, where: str = "layout") -> Layout:
        """A Layout from None, a Layout, a mapping or a string such as ``"samples=columns,weights=in_out"``."""
        if obj is None:
            return cls()
        if isinstance(obj, Layout):
            return obj
        if isinstance(obj, str):
            items: dict[str, Any] = {}
            for part in filter(None, (p.strip() for p in obj.split(","))):
                key, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(
                        f"{where}: cannot read {part!r}; write KEY=VALUE pairs such as samples=columns,weights=in_out"
                    )
                items[key.strip()] = value.strip()
            obj = items
        if not isinstance(obj, Mapping):
            raise TypeError(
                f"{where} must be a symprop.Layout, a dict or a string such as 'samples=columns', got {type(obj).__name__}"
            )
        unknown = [k for k in obj if k not in FIELDS]
        if unknown:
            raise ValueError(
                f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(FIELDS)}." + suggest(str(unknown[0]), FIELDS)
            )
        try:
            return cls(**dict(obj))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    @property
    def per_sample(self) -> bool:
        return self.samples in ("each", "each_column")

    @property
    def is_default(self) -> bool:
        return self == Layout()

    def __str__(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in FIELDS)

    # ------------------------------------------------------------------ shapes in this layout
    def weight_shape(self, net: Network, l: int) -> tuple[int, int]:
        """Shape of weights[l] (0-based) in this layout."""
        n_out, n_in = net.weight_shapes()[l]
        return (n_in, n_out) if self.weights == "in_out" else (n_out, n_in)

    def bias_shape(self, net: Network, l: int) -> tuple[int, ...]:
        n = net.layers[l + 1]
        return {"flat": (n,), "column": (n, 1), "row": (1, n)}[self.bias]

    def shapes_text(self, net: Network) -> str:
        """What the gradient looks like in this layout, e.g. 'grad_weights[0] (3, 4), grad_biases[0] (4,); ...'."""
        first, second = ("grad_weights", "grad_biases") if self.order == "wb" else ("grad_biases", "grad_weights")
        parts = []
        for l in range(net.depth):
            shapes = {"grad_weights": self.weight_shape(net, l), "grad_biases": self.bias_shape(net, l)}
            parts.append(f"{first}[{l}] {shapes[first]}, {second}[{l}] {shapes[second]}")
        return f"({first}, {second}) with " + "; ".join(parts)

    def describe(self) -> str:
        return f"layout {self}" + (" (the default)" if self.is_default else "")

    # ------------------------------------------------------------------ to and from symprop's arrays
    def weights_out(self, w: np.ndarray) -> np.ndarray:
        """A weight matrix (n_out, n_in) in this layout."""
        return np.ascontiguousarray(w.T) if self.weights == "in_out" else w.copy()

    def bias_out(self, b: np.ndarray) -> np.ndarray:
        return {"flat": b.copy(), "column": b.reshape(-1, 1).copy(), "row": b.reshape(1, -1).copy()}[self.bias]

    def data_out(self, A: np.ndarray) -> np.ndarray:
        """Data (N, n) as the candidate gets it in batch mode."""
        return np.ascontiguousarray(A.T) if self.samples == "columns" else A.copy()

    def sample_out(self, row: np.ndarray) -> np.ndarray:
        """One sample (n,) as a per-sample candidate gets it."""
        return row.reshape(-1, 1).copy() if self.samples == "each_column" else row.copy()


def sample_factor(net: Network, n_samples: int) -> float:
    """What a per-sample candidate's terms are multiplied by after summing them.

    One sample's term is the loss of the network on that sample alone (N = 1) without an l2 penalty:
    for every loss the data term on N samples is ``scale(N) / scale(1)`` times the sum of those terms
    (1/N for a mean over the samples or over N*m entries, 1 for a sum). The penalty lam * sum(W**2)
    is added once (``penalty_gradient``), not per sample.
    """
    return float(net.scale(n_samples) / net.scale(1))


def penalty_gradient(net: Network, weights: list[np.ndarray]) -> dict[str, float]:
    """name -> d/dparam of l2 * sum(W**2) (2 lam w for each weight entry, summed over a tied parameter's uses)."""
    lam = float(net.l2)
    if not lam:
        return {}
    out = {}
    for name in net.param_names:
        terms = [2.0 * lam * float(weights[p.layer - 1][p.index]) for p in net.slots(name) if p.kind == "w"]
        if terms:
            out[name] = math.fsum(terms)
    return out


# --------------------------------------------------------------------------- values and data in a layout

_LAYER_KEY = re.compile(r"^d?([Wb])(\d+)$")


def layer_mapping(net: Network, mapping: Mapping) -> dict[tuple[str, int], Any] | None:
    """``{("W", 1): ..., ("b", 1): ...}`` when ``mapping`` is keyed W1, b1, ... (or dW1, db1, ...), else None."""
    keys = [k for k in mapping if isinstance(k, str)]
    if len(keys) != len(mapping) or not keys:
        return None
    parsed = {}
    for key in keys:
        m = _LAYER_KEY.match(key)
        if not m:
            return None
        parsed[(m.group(1), int(m.group(2)))] = mapping[key]
    if not any(kind == "W" for kind, _ in parsed):  # flat parameter names b1, b2 are scalars, not layers
        return None
    return parsed


def read_values(net: Network, layout: Layout, values: Any) -> Any:
    """``values`` in the layout -> what ``spec.parse_values`` accepts (a name mapping or (weights, biases))."""
    if isinstance(values, Mapping):
        layers = layer_mapping(net, values)
        if layers is None:
            return values
        expected = {(k, l) for k in "Wb" for l in range(1, net.depth + 1)}
        missing = sorted(expected - set(layers), key=lambda t: (t[1], t[0]))
        extra = sorted(set(layers) - expected, key=lambda t: (t[1], t[0]))
        if missing or extra:
            raise ValueError(
                "values keyed by layer need W1, b1, ..., "
                f"W{net.depth}, b{net.depth}: "
                + (f"missing {listing(k + str(l) for k, l in missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unknown {listing(k + str(l) for k, l in extra)}" if extra else "")
            )
        weights = [layers[("W", l + 1)] for l in range(net.depth)]
        biases = [layers[("b", l + 1)] for l in range(net.depth)]
    elif isinstance(values, (tuple, list)) and len(values) == 2:
        first, second = values
        weights, biases = (first, second) if layout.order == "wb" else (second, first)
        if not _fits(net, layout, weights, biases) and _fits(net, layout, biases, weights):
            weights, biases = biases, weights  # unambiguous: only the other order has the right shapes
    else:
        return values
    return _values_to_own(net, layout, weights, biases)


def _fits(net: Network, layout: Layout, weights: Any, biases: Any) -> bool:
    try:
        return (
            len(weights) == len(biases) == net.depth
            and all(np.shape(w) == layout.weight_shape(net, l) for l, w in enumerate(weights))
            and all(np.size(b) == net.layers[l + 1] and np.ndim(b) <= 2 for l, b in enumerate(biases))
        )
    except TypeError:
        return False


def _values_to_own(net: Network, layout: Layout, weights: Any, biases: Any) -> Any:
    if not (isinstance(weights, (list, tuple)) and isinstance(biases, (list, tuple))):
        return (weights, biases)  # spec.parse_values explains
    if len(weights) != net.depth or len(biases) != net.depth:
        return (weights, biases)
    own_w, own_b = [], []
    for l, (w, b) in enumerate(zip(weights, biases)):
        shape = np.shape(w)
        want = layout.weight_shape(net, l)
        if shape != want:
            hint = " (it looks transposed: check layout weights=)" if shape == want[::-1] else ""
            raise ValueError(
                f"weights[{l}] has shape {shape}, expected {want} in {layout.describe()}{hint}; "
                f"W^[{l + 1}] maps {plural(net.layers[l], 'input')} to {plural(net.layers[l + 1], 'neuron')}"
            )
        own_w.append(np.asarray(w).T if layout.weights == "in_out" else w)
        n = net.layers[l + 1]
        if np.size(b) != n or np.ndim(b) > 2:
            raise ValueError(
                f"biases[{l}] has shape {np.shape(b)}, expected {layout.bias_shape(net, l)} in {layout.describe()}"
            )
        own_b.append(np.reshape(np.asarray(b), (n,)))
    return (own_w, own_b)


def read_data(net: Network, layout: Layout, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """X, Y in the layout -> float64 rows (N, n0), (N, nL), validated by spec.as_data."""
    if layout.samples == "columns":
        X = _columns(X, "X", net.n_inputs)
        if labels_of(net, Y, None) is None:
            Y = _columns(Y, "Y", net.n_outputs)
    return as_data(net, X, Y)


def labels_of(net: Network, Y: Any, n_samples: int | None) -> np.ndarray | None:
    """Y as int64 class labels when the user gave cross_entropy labels (N,) (as torch.nn.CrossEntropyLoss takes
    them), else None: the candidate is then given the labels as they were, not their one-hot rows."""
    if net.loss_name != "cross_entropy" or net.n_outputs == 1 or Y is None:
        return None
    detach = getattr(Y, "detach", None)
    if callable(detach) and callable(getattr(Y, "cpu", None)):
        Y = detach().cpu()
    try:
        arr = np.asarray(Y)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or (n_samples is not None and arr.shape[0] != n_samples):
        return None
    return arr.astype(np.int64)


def _columns(A: Any, what: str, n: int) -> Any:
    try:
        arr = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError):
        return A  # as_data names the problem
    if arr.ndim == 2:
        if arr.shape[0] != n:
            looks = " (it looks like samples as rows: transpose it, or use samples='rows')" if arr.shape[1] == n else ""
            raise ValueError(
                f"{what} has shape {arr.shape}, expected ({n}, N) in layout samples=columns "
                f"(one column per sample){looks}"
            )
        return arr.T
    return arr  # 0-D and 1-D data mean the same in every layout


# --------------------------------------------------------------------------- reading a candidate's result


@dataclass
class Reader:
    """Reads one result of a candidate into name -> float, collecting problems and dtypes."""

    net: Network
    layout: Layout
    problems: list[str]
    dtypes: set[str]
    n_samples: int = 1
    #: what the shapes showed, for the diagnoses: "swapped_pair", "transposed" or ("transposed", layer)
    flags: list = field(default_factory=list)

    # ---------------------------------------------------------------- one array
    def array(self, arr: Any, what: str) -> np.ndarray | None:
        """``arr`` as float64 NumPy if it is a real floating array; else None and a problem naming its dtype."""
        detach = getattr(arr, "detach", None)
        if callable(detach) and callable(getattr(arr, "cpu", None)):
            arr = detach().cpu()
        try:
            a = np.asarray(arr)
        except (TypeError, ValueError, RuntimeError) as exc:
            self.problems.append(f"{what} is not an array of numbers ({type(arr).__name__}: {exc})")
            return None
        kind = a.dtype.kind
        if kind != "f":
            what_kind = {
                "c": "complex",
                "b": "boolean",
                "i": "integer",
                "u": "integer",
                "O": "object",
                "U": "string",
                "S": "bytes",
            }.get(kind, "non-numeric")
            self.problems.append(
                f"{what} has dtype {a.dtype} ({what_kind}): a gradient must be real floating point "
                f"({', '.join(FLOAT_DTYPES)})"
            )
            return None
        if a.dtype.name not in FLOAT_DTYPES:
            self.problems.append(f"{what} has dtype {a.dtype}; supported: {', '.join(FLOAT_DTYPES)}")
            return None
        self.dtypes.add(a.dtype.name)
        return a.astype(np.float64)

    # ---------------------------------------------------------------- one layer list
    def layer_list(self, arrays: Any, what: str) -> list[np.ndarray | None]:
        net, layout = self.net, self.layout
        L = net.depth
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)):
            self.problems.append(
                f"{what} must be a list with one array per layer, got {type(arrays).__name__}; "
                f"expected {layout.shapes_text(net)}"
            )
            return [None] * L
        if len(arrays) != L:
            self.problems.append(
                f"{what} has {len(arrays)} array(s) but the network has {L} weight layer(s); "
                f"expected {layout.shapes_text(net)}"
            )
            return [None] * L
        out = []
        for l, arr in enumerate(arrays):
            a = self.array(arr, f"{what}[{l}]")
            out.append(None if a is None else self._shaped(a, f"{what}[{l}]", l, what == "grad_biases"))
        return out

    def _shaped(self, a: np.ndarray, what: str, l: int, bias: bool) -> np.ndarray | None:
        net, layout = self.net, self.layout
        n_out = net.layers[l + 1]
        if bias:
            if a.size == n_out and a.ndim <= 2 and (a.ndim < 2 or 1 in a.shape):
                return a.reshape(-1)  # (n,), (n, 1) and (1, n) are all unambiguous
            want = layout.bias_shape(net, l)
            self.problems.append(
                f"{what} has shape {a.shape}, expected {want} in {layout.describe()}" + self._bias_hint(a, l)
            )
            return None
        want = layout.weight_shape(net, l)
        if a.shape == want:
            return a.T if layout.weights == "in_out" else a
        self.problems.append(
            f"{what} has shape {a.shape}, expected {want} in {layout.describe()}" + self._weight_hint(a, want, l)
        )
        return None

    def _weight_hint(self, a: np.ndarray, want: tuple[int, int], l: int) -> str:
        if a.shape == want[::-1]:
            self.flags.append(("transposed", l + 1))
            other = "in_out" if self.layout.weights == "out_in" else "out_in"
            return f" (it looks transposed: did you forget .T? if all your weights are (n_in, n_out) pass layout weights={other})"
        if a.size == self.net.layers[l + 1] and a.ndim <= 2:
            return " (that is a bias gradient's size: are the weights and biases in the wrong order? see layout order=)"
        if a.size == want[0] * want[1]:
            return " (the right number of entries: a forgotten reshape?)"
        return ""

    def _bias_hint(self, a: np.ndarray, l: int) -> str:
        n = self.net.layers[l + 1]
        N = self.n_samples
        if a.ndim == 2 and sorted(a.shape) == sorted((n, N)) and N > 1:
            return f" (one bias gradient per sample: sum over the {N} samples)"
        if a.ndim == 2 and n in a.shape and sorted(a.shape) == sorted(self.net.weight_shapes()[l]):
            return " (that is the weight gradient's shape: are the weights and biases in the wrong order? see layout order=)"
        return ""

    # ---------------------------------------------------------------- whole results
    def _regrouped(self, seq: Any) -> tuple[list, list] | None:
        """(weights, biases) when ``seq`` is one of the other common forms and only it fits the shapes:
        per-layer pairs ``[(dW1, db1), (dW2, db2), ...]`` or a flat ``[dW1, db1, dW2, db2, ...]`` (in the
        layout's order within a layer), else None."""
        if not isinstance(seq, (tuple, list)):
            return None
        L = self.net.depth
        wb = self.layout.order == "wb"
        if len(seq) == L and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in seq):
            gw = [p[0] if wb else p[1] for p in seq]
            gb = [p[1] if wb else p[0] for p in seq]
            if self._fits(gw, gb):
                return gw, gb
        if len(seq) == 2 * L and not any(isinstance(p, (tuple, list)) for p in seq):
            gw, gb = (list(seq[0::2]), list(seq[1::2])) if wb else (list(seq[1::2]), list(seq[0::2]))
            if self._fits(gw, gb):
                return gw, gb
        return None

    def pair(self, pair: Any) -> dict[str, float]:
        net, layout = self.net, self.layout
        if isinstance(pair, (tuple, list)) and not (
            len(pair) == 2 and self._fits(*(pair if layout.order == "wb" else pair[::-1]))
        ):
            regrouped = self._regrouped(pair)
            if regrouped is not None:
                return self.from_arrays(
                    self.layer_list(regrouped[0], "grad_weights"), self.layer_list(regrouped[1], "grad_biases")
                )
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            first, second = ("grad_weights", "grad_biases")[:: 1 if layout.order == "wb" else -1]
            self.problems.append(
                f"the candidate must give a pair ({first}, {second}), got {type(pair).__name__}"
                + (f" of length {len(pair)}" if isinstance(pair, (tuple, list)) else "")
                + f"; expected {layout.shapes_text(net)}"
            )
            return {}
        first, second = pair
        gw, gb = (first, second) if layout.order == "wb" else (second, first)
        if not self._fits(gw, gb) and self._fits(gb, gw):
            said = "(grad_weights, grad_biases)" if layout.order == "wb" else "(grad_biases, grad_weights)"
            other = "bw" if layout.order == "wb" else "wb"
            self.problems.append(
                f"the pair is in (b, w) order swapped: {layout.describe()} expects {said}, but the "
                f"shapes fit the other order (pass layout order={other} if that is your convention); "
                "the values are compared in the order the shapes fit"
            )
            gw, gb = gb, gw
            self.flags.append("swapped_pair")
        elif not self._fits(gw, gb) and self._all_transposed(gw) and self._biases_fit(gb):
            other = "in_out" if layout.weights == "out_in" else "out_in"
            self.problems.append(
                f"every weight gradient has the transposed shape of {layout.describe()} "
                f"(expected {layout.shapes_text(net)}): if your weights are held that way pass layout "
                f"weights={other}; the values are compared transposed"
            )
            gw = [np.asarray(self._plain(w)).T for w in gw]
            self.flags.append("transposed")
        return self.from_arrays(self.layer_list(gw, "grad_weights"), self.layer_list(gb, "grad_biases"))

    def _plain(self, arr: Any) -> Any:
        detach = getattr(arr, "detach", None)
        return detach().cpu() if callable(detach) and callable(getattr(arr, "cpu", None)) else arr

    def _shape(self, arr: Any) -> tuple[int, ...] | None:
        try:
            return np.shape(self._plain(arr))
        except Exception:  # noqa: BLE001 - anything unreadable does not fit
            return None

    def _weights_fit(self, gw: Any) -> bool:
        return (
            isinstance(gw, (list, tuple))
            and len(gw) == self.net.depth
            and all(self._shape(w) == self.layout.weight_shape(self.net, l) for l, w in enumerate(gw))
        )

    def _biases_fit(self, gb: Any) -> bool:
        if not (isinstance(gb, (list, tuple)) and len(gb) == self.net.depth):
            return False
        for l, b in enumerate(gb):
            s = self._shape(b)
            n = self.net.layers[l + 1]
            if s is None or len(s) > 2 or int(np.prod(s)) != n or (len(s) == 2 and 1 not in s):
                return False
        return True

    def _fits(self, gw: Any, gb: Any) -> bool:
        return self._weights_fit(gw) and self._biases_fit(gb)

    def _all_transposed(self, gw: Any) -> bool:
        if not (isinstance(gw, (list, tuple)) and len(gw) == self.net.depth):
            return False
        shapes = [self.layout.weight_shape(self.net, l) for l in range(self.net.depth)]
        return all(self._shape(w) == s[::-1] for w, s in zip(gw, shapes)) and any(s[0] != s[1] for s in shapes)

    def layers_mapping(self, layers: dict[tuple[str, int], Any]) -> dict[str, float]:
        net = self.net
        expected = {(k, l) for k in "Wb" for l in range(1, net.depth + 1)}
        extra = sorted(set(layers) - expected, key=lambda t: (t[1], t[0]))
        if extra:
            self.problems.append(
                f"unknown layer key(s) {listing(k + str(l) for k, l in extra)}; "
                f"the network has layers 1..{net.depth} (keys W1, b1, ..., W{net.depth}, b{net.depth})"
            )
        missing = sorted(expected - set(layers), key=lambda t: (t[1], t[0]))
        if missing:
            self.problems.append(f"no gradient given for {listing(k + str(l) for k, l in missing)}")
        gw, gb = [], []
        for l in range(net.depth):
            for kind, out in (("W", gw), ("b", gb)):
                value = layers.get((kind, l + 1))
                if value is None:
                    out.append(None)
                    continue
                a = self.array(value, f"{kind}{l + 1}")
                out.append(None if a is None else self._shaped(a, f"{kind}{l + 1}", l, kind == "b"))
        return self.from_arrays(gw, gb)

    def from_arrays(self, gw: list, gb: list) -> dict[str, float]:
        """name -> value from per-entry arrays (None: a layer that could not be read); a tied parameter's
        entries are summed, as the chain rule over its uses does."""
        out = {}
        for name in self.net.param_names:
            slots = self.net.slots(name)
            srcs = [(gw if p.kind == "w" else gb)[p.layer - 1] for p in slots]
            if all(src is not None for src in srcs):
                terms = [float(src[p.index]) for src, p in zip(srcs, slots)]
                out[name] = terms[0] if len(terms) == 1 else math.fsum(terms)
        return out

    def names(self, grads: Mapping) -> dict[str, float]:
        net = self.net
        out: dict[str, float] = {}
        unknown = []
        for key, value in grads.items():
            name = getattr(key, "name", key)
            if isinstance(name, str) and name not in net.param_names and name in net.param_of:
                owner = net.param_of[name]
                self.problems.append(
                    f'"{name}" is tied into parameter "{owner}": give the gradient of "{owner}" (the sum over its uses)'
                )
                continue
            if not isinstance(name, str) or name not in net.param_names:
                unknown.append(str(name))
                continue
            number = self.scalar(value, f'gradient of "{name}"')
            if number is not None:
                out[name] = number
        if unknown:
            self.problems.append(
                f"unknown parameter name(s) {listing(unknown)}; valid: {listing(net.param_names)}."
                + suggest(unknown[0], net.param_names)
            )
        missing = [n for n in net.param_names if n not in out]
        if missing and not unknown and not self.problems:
            self.problems.append(
                f"no gradient given for {len(missing)} of {net.n_params} parameters: {listing(missing)}"
            )
        return out

    def scalar(self, value: Any, what: str) -> float | None:
        if isinstance(value, float):  # Python floats (and numpy.float64) are float64
            if isinstance(value, np.floating):
                self.dtypes.add(np.dtype(type(value)).name)
            return float(value)
        if isinstance(value, (bool, int, complex, str, bytes, Fraction)) or value is None:
            kind = type(value).__name__
            article = "an" if kind[0] in "aeiou" else "a"
            self.problems.append(f"{what} must be a real floating-point number, got {article} {kind} ({value!r})")
            return None
        a = self.array(value, what)
        if a is None:
            return None
        if a.size != 1:
            self.problems.append(f"{what} must be a single number, got shape {a.shape}")
            return None
        return float(a.reshape(-1)[0])

    def result(self, result: Any, where: str) -> dict[str, float]:
        """Any result: a pair, layer arrays keyed W1, b1, ..., or names -> numbers."""
        if isinstance(result, Mapping):
            layers = layer_mapping(self.net, result)
            if layers is not None and not all(np.ndim(self._plain(v)) == 0 for v in result.values()):
                return self.layers_mapping(layers)
            return self.names(result)
        if isinstance(result, (tuple, list)):
            return self.pair(result)
        raise TypeError(
            "candidate must be a callable fn(weights, biases, X, Y) -> (grad_weights, grad_biases), "
            "a dict name -> value, a dict of layer arrays W1, b1, ..., or a pair (grad_weights, grad_biases); "
            f"{where} {type(result).__name__}"
        )


def result_dtype(dtypes: set[str]) -> str | None:
    """The candidate's own dtype: the least precise floating dtype it returned (None if only Python floats)."""
    for name in reversed(FLOAT_DTYPES):  # float16, float32, float64
        if name in dtypes:
            return name
    return None
