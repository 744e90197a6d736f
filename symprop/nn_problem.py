"""Problem files of symprop.nn models: a ``[[layers]]`` array of tables with torch's names, and a ``[loss]``.

    title = "LayerNorm between two Linear layers"
    [[layers]]
    type = "Linear"
    in_features = 2
    out_features = 3
    [[layers]]
    type = "LayerNorm"
    normalized_shape = 3
    [[layers]]
    type = "Residual"                      # y = x + block(x); its block is the nested layers
      [[layers.layers]]
      type = "Linear"
      in_features = 3
      out_features = 3
      [[layers.layers]]
      type = "GELU"
      approximate = "tanh"
    [[layers]]
    type = "BatchNorm1d"
    num_features = 3
    training = false                       # optional, per layer (default true, as torch)
    [loss]
    type = "CrossEntropyLoss"              # torch's class names; or a name: type = "mse"
    reduction = "mean"
    l2 = 0.0                               # optional: adds l2 * sum(W**2) over the Linear weights
    [data]
    x = [[0.1, 0.2], [0.3, -0.4]]          # (N, *in_shape)
    y = [0, 2]                             # targets (class labels for CrossEntropyLoss/NLLLoss)
    [values]                               # the state dict: "0.weight" = [[...], ...] (quoted keys or dotted
    init = "torch"                         # tables); or init = "torch" (symprop.nn.init_values, seed) + overrides
    seed = 0
    [train]                                # optional: for `symprop descend`
    params = ["0.weight"]                  # state-dict names or entries "0.weight[1,2]"; default: all
    lr = 0.1
    tol = 1e-6
    max_steps = 1000

``problem.load_problem`` reads such a file (it has ``[[layers]]`` instead of ``[network]``) as an
``NNProblem``; the command line's ``show``, ``grad``, ``verify`` and ``descend`` work on it (``run_*`` below).
Layer types: the symprop.nn modules (``Linear``, ``ReLU`` ... ``GELU``, ``Softmax``, ``LayerNorm``, ``BatchNorm1d``,
``Dropout`` (``mask`` for training mode), ``Flatten``, ``Sequential`` and ``Residual`` with nested ``layers``);
their keys are the constructor's arguments.  Every mistake is one line naming the layer and what is valid,
with a "did you mean" where one fits.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import nn
from .errors import listing, printable, suggest

__all__ = ["LAYER_TYPES", "NNProblem", "is_nn_problem", "layers_from_tables", "nn_problem_from_dict"]

#: type name -> symprop.nn class
LAYER_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        nn.Linear,
        nn.Identity,
        nn.ReLU,
        nn.LeakyReLU,
        nn.Sigmoid,
        nn.Tanh,
        nn.Softplus,
        nn.ELU,
        nn.SiLU,
        nn.GELU,
        nn.Softmax,
        nn.LayerNorm,
        nn.BatchNorm1d,
        nn.Dropout,
        nn.Flatten,
        nn.Sequential,
        nn.Residual,
    )
}
CONTAINERS = ("Sequential", "Residual")
TOP_LEVEL = ("title", "description", "layers", "loss", "data", "values", "train")
LOSS_KEYS = ("type", "reduction", "l2")
DATA_KEYS = ("x", "y")
VALUE_KEYS = ("init", "seed")
TRAIN_KEYS = ("params", "lr", "tol", "max_steps")
LOSS_TYPES = ("MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss", "QuadraticLoss")


@dataclass(frozen=True)
class NNProblem:
    """A loaded ``[[layers]]`` problem: the model, its loss, data and state dict, and the train settings."""

    model: nn.Module
    loss: nn.Loss
    l2: float
    X: np.ndarray
    Y: np.ndarray
    values: dict[str, np.ndarray] = field(compare=False)
    title: str = ""
    description: str = ""
    train: tuple[str, ...] | None = None
    lr: float = 0.1
    tol: float | None = None
    max_steps: int = 1000
    source: Path | None = field(default=None, compare=False)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])


def is_nn_problem(problem: Any) -> bool:
    return isinstance(problem, NNProblem)


def _fields(cls: type) -> tuple[str, ...]:
    if cls is nn.Sequential:
        return ("layers", "training")
    if cls is nn.Residual:
        return ("layers", "training")
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "training") + ("training",)


def layers_from_tables(tables: Any, fail, where: str = "layers") -> list[nn.Module]:
    """symprop.nn modules from an array of tables ``[{type = "Linear", in_features = 2, ...}, ...]``."""
    from .problem import ProblemError

    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise fail(
            f"'{where}' must be a non-empty array of tables [[{where}]], each with a type such as type = \"Linear\""
        )
    out = []
    for i, table in enumerate(tables):
        at = f"{where}[{i}]"
        kind = table.get("type")
        if kind is None:
            raise fail(f"{at} needs a type, one of {listing(LAYER_TYPES, limit=20)}")
        if not isinstance(kind, str) or kind not in LAYER_TYPES:
            raise fail(
                f"{at}: unknown layer type {kind!r}; valid: {listing(LAYER_TYPES, limit=20)}."
                + suggest(str(kind), list(LAYER_TYPES))
            )
        cls = LAYER_TYPES[kind]
        valid = _fields(cls)
        args = {k: v for k, v in table.items() if k != "type"}
        for key in args:
            if key not in valid:
                raise fail(f"{at} ({kind}): unknown argument '{key}'; valid: {listing(valid)}." + suggest(key, valid))
        training = args.pop("training", True)
        if not isinstance(training, bool):
            raise fail(f"{at} ({kind}): training must be true or false, got {training!r}")
        try:
            if kind in CONTAINERS:
                children = layers_from_tables(args.get("layers"), fail, f"{at}.layers")
                if kind == "Sequential":
                    module = nn.Sequential(*children, training=training)
                else:
                    block = children[0] if len(children) == 1 else nn.Sequential(*children, training=training)
                    module = nn.Residual(block, training=training)
            else:
                if isinstance(args.get("normalized_shape"), list):
                    args["normalized_shape"] = tuple(args["normalized_shape"])
                module = cls(**args, training=training)
        except ProblemError:
            raise
        except (TypeError, ValueError) as exc:
            raise fail(f"{at} ({kind}): {exc}") from None
        out.append(module)
    return out


def _flat_values(table: dict, prefix: str = "") -> dict[str, Any]:
    """[values] with dotted keys (0.weight = ... is the table {"0": {"weight": ...}}) as state-dict names."""
    out = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flat_values(v, name + ".")
        else:
            out[name] = v
    return out


def _check_keys(table: Any, valid: tuple[str, ...], section: str, fail) -> dict:
    if not isinstance(table, dict):
        raise fail(f"'{section}' must be a table [{section}], got {type(table).__name__}")
    for key in table:
        if key not in valid:
            raise fail(f"[{section}] unknown key '{key}'; valid: {listing(valid)}." + suggest(key, valid))
    return table


def _loss(table: Any, fail) -> tuple[nn.Loss, float]:
    if isinstance(table, str):
        table = {"type": table}
    _check_keys(table, LOSS_KEYS, "loss", fail)
    kind = table.get("type", "MSELoss")
    reduction = table.get("reduction")
    l2 = table.get("l2", 0.0)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
        raise fail(f"[loss] l2 must be a number >= 0, got {l2!r}")
    if not isinstance(kind, str):
        raise fail(f'[loss] type must be a string such as "MSELoss", got {kind!r}')
    try:
        if kind in LOSS_TYPES:
            cls = getattr(nn, kind)
            return (cls() if reduction is None else cls(reduction=reduction)), float(l2)
        if kind.strip().lower() in nn.loss.LOSS_STRINGS:
            return nn.as_loss(kind, reduction), float(l2)
    except (TypeError, ValueError) as exc:
        raise fail(f"[loss]: {exc}") from None
    names = list(LOSS_TYPES) + list(nn.loss.LOSS_STRINGS)
    raise fail(
        f"[loss] unknown type {kind!r}; valid: {listing(LOSS_TYPES)} (or a name: {listing(nn.loss.LOSS_STRINGS)})."
        + suggest(kind, names)
    )


def _numbers(value: Any, what: str, fail) -> np.ndarray:
    from .problem import _check_numbers

    _check_numbers(value, what, fail)
    try:
        arr = np.asarray(value)
    except ValueError:
        raise fail(f"{what} must be a rectangular array (every row of the same length)") from None
    if arr.dtype == object:
        raise fail(f"{what} must be a rectangular array (every row of the same length)")
    return arr


def nn_problem_from_dict(raw: dict[str, Any], source: Path | None = None, fail=None) -> NNProblem:
    """Validate a parsed ``[[layers]]`` problem (the dict a TOML file gives)."""
    from .problem import MAX_STEPS, ProblemError

    where = str(source) if source else "<problem>"
    if fail is None:

        def fail(msg: str) -> ProblemError:
            return ProblemError(printable(f"{where}: {msg}"))

    for key in raw:
        if key not in TOP_LEVEL:
            hint = " ([network] and [[layers]] are two kinds of problem file; use one)" if key == "network" else ""
            raise fail(
                f"unknown key '{key}'; valid top-level keys of a [[layers]] file: {listing(TOP_LEVEL)}."
                + suggest(key, TOP_LEVEL)
                + hint
            )
    for name in ("data", "values"):
        if name not in raw:
            raise fail(f"missing section [{name}]")
    layers = layers_from_tables(raw["layers"], fail)
    model = layers[0] if len(layers) == 1 and isinstance(layers[0], nn.Sequential) else nn.Sequential(*layers)
    loss, l2 = _loss(raw.get("loss", {"type": "MSELoss"}), fail)

    data = _check_keys(raw["data"], DATA_KEYS, "data", fail)
    missing = [k for k in DATA_KEYS if k not in data]
    if missing:
        raise fail(f"[data] needs inline {' and '.join(missing)}")
    X = _numbers(data["x"], "[data] x", fail).astype(np.float64)
    Yraw = _numbers(data["y"], "[data] y", fail)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    try:
        out_shape = model.out_shape(X.shape[1:])
    except ValueError as exc:
        raise fail(f"[data] x has samples of shape {X.shape[1:]}: {exc}") from None
    if loss.takes_labels and Yraw.ndim == 1 and Yraw.dtype.kind in "iu":
        Y = Yraw.astype(np.int64)
    else:
        Y = Yraw.astype(np.float64)
        if Y.ndim == 1 and out_shape == (1,):
            Y = Y.reshape(-1, 1)
    if Y.shape[0] != X.shape[0]:
        raise fail(f"[data] x has {X.shape[0]} samples but y has {Y.shape[0]}")

    vals = raw["values"]
    if not isinstance(vals, dict):
        raise fail(f"'values' must be a table [values], got {type(vals).__name__}")
    flat = _flat_values({k: v for k, v in vals.items() if k not in VALUE_KEYS})
    shapes, bshapes = nn.state_shapes(model, X.shape[1:])
    known = list(shapes) + list(bshapes)
    unknown = [k for k in flat if k not in known]
    if unknown:
        raise fail(
            f"[values] unknown key(s) {listing(unknown)}; valid: init, seed and the state-dict names "
            f"{listing(known)}." + suggest(unknown[0], known + list(VALUE_KEYS))
        )
    values: dict[str, np.ndarray] = {}
    init = vals.get("init")
    if init is not None:
        if init != "torch":
            raise fail(
                f'[values] init must be "torch" (symprop.nn.init_values), got {init!r}' + suggest(str(init), ["torch"])
            )
        seed = vals.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise fail(f"[values] seed must be a whole number >= 0, got {seed!r}")
        values |= nn.init_values(model, X.shape[1:], seed=seed)
    elif "seed" in vals:
        raise fail('[values] seed only applies with init = "torch"')
    for name, value in flat.items():
        arr = _numbers(value, f"[values] {name}", fail).astype(np.float64)
        want = shapes.get(name, bshapes.get(name))
        if arr.shape != tuple(want):
            raise fail(f"[values] {name} has shape {arr.shape}, expected {tuple(want)}")
        if not np.all(np.isfinite(arr)):
            raise fail(f"[values] {name} must be finite")
        values[name] = arr
    missing = [k for k in shapes if k not in values]
    if missing:
        raise fail(
            f"[values] missing {listing(missing)} (shapes "
            + listing(f"{k} {shapes[k]}" for k in missing)
            + '); give every parameter, or init = "torch"'
        )

    train_raw = _check_keys(raw.get("train", {}), TRAIN_KEYS, "train", fail)
    train = train_raw.get("params")
    if train is not None:
        train = [train] if isinstance(train, str) else train
        if not isinstance(train, list) or not train or not all(isinstance(p, str) for p in train):
            raise fail('[train] params must be a non-empty list of state-dict names, e.g. params = ["0.weight"]')
        from .nn_descent import _train_entries

        try:
            _train_entries(shapes, train)
        except ValueError as exc:
            raise fail(f"[train] params: {exc}") from None
        train = tuple(train)
    from .problem import _number

    lr = _number(train_raw.get("lr", 0.1), "[train] lr", fail, positive=True)
    tol = train_raw.get("tol")
    tol = None if tol is None else _number(tol, "[train] tol", fail, positive=True)
    max_steps = train_raw.get("max_steps", 1000)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS:
        raise fail(f"[train] max_steps must be a positive integer, got {max_steps!r}")
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"'{key}' must be a string")
    return NNProblem(
        model,
        loss,
        l2,
        X,
        Y,
        values,
        raw.get("title", ""),
        raw.get("description", ""),
        train,
        float(lr),
        None if tol is None else float(tol),
        int(max_steps),
        source,
    )


# --------------------------------------------------------------------------- the command line


def _header(problem: NNProblem) -> str:
    title = f"{problem.title}\n" if problem.title else ""
    return (
        f"{title}model: {problem.model!r}\nloss: {problem.loss!r}"
        + (f", l2 = {problem.l2:g}" if problem.l2 else "")
        + "\n"
    )


def _table(problem: NNProblem, grads: dict[str, np.ndarray]) -> str:
    from .display import format_number, table
    from .nn_verify import entry_names

    rows = []
    for name, g in grads.items():
        v = np.asarray(problem.values[name], dtype=np.float64).reshape(-1)
        for i, entry in enumerate(entry_names(name, tuple(np.shape(g)))):
            rows.append([entry, format_number(float(v[i])), format_number(float(np.asarray(g).reshape(-1)[i]))])
    return table(rows, ["parameter", "value", "dL/dparam"], numeric=(1, 2))


def run_show(args: Any, problem: NNProblem) -> int:
    shapes, bshapes = nn.state_shapes(problem.model, problem.in_shape)
    value = float(nn.loss_value(problem.model, problem.values, problem.X, problem.Y, loss=problem.loss, l2=problem.l2))
    lines = [
        _header(problem),
        f"data: {problem.X.shape[0]} samples of shape {problem.in_shape}",
        "parameters: " + ", ".join(f"{k} {tuple(s)}" for k, s in shapes.items()),
        f"loss at the file's values: {value:.15g}",
    ]
    if bshapes:
        lines.insert(3, "buffers: " + ", ".join(f"{k} {tuple(s)}" for k, s in bshapes.items()))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def run_grad(args: Any, problem: NNProblem) -> int:
    """The gradient at the file's values (float64; --exact: MP(50) digits)."""
    from .cli import JSON_VERSION, print_json

    exact = bool(getattr(args, "exact", False))
    arith = nn.MP(50) if exact else nn.FLOAT
    value, grads = nn.value_and_gradient(
        problem.model, problem.values, problem.X, problem.Y, loss=problem.loss, l2=problem.l2, arith=arith
    )
    as_float = {
        k: np.vectorize(float, otypes=[np.float64])(g) if np.size(g) else np.asarray(g, dtype=float)
        for k, g in grads.items()
    }
    if getattr(args, "json", False):
        data = {
            "version": JSON_VERSION,
            "file": str(problem.source),
            "model": repr(problem.model),
            "loss_fn": repr(problem.loss),
            "loss": float(value),
            "values": {k: np.asarray(v, dtype=float).tolist() for k, v in problem.values.items() if k in grads},
            "gradient": {k: g.tolist() for k, g in as_float.items()},
        }
        if exact:
            data["exact"] = {k: [str(e) for e in np.asarray(g).reshape(-1)] for k, g in grads.items()}
        print_json(data)
        return 0
    what = "MP(50), shown to 15 digits" if exact else "float64"
    sys.stdout.write(
        _header(problem)
        + f"loss at the file's values: {float(value):.15g}\n\n"
        + _table(problem, as_float)
        + f"\n({what})\n"
    )
    return 0


def run_verify(args: Any, problem: NNProblem) -> int:
    """Check MODULE:FUNCTION, called as fn(values, X, Y) -> {state-dict name: gradient} (or a list)."""
    from .cli import import_function
    from .nn_verify import verify_model

    if getattr(args, "layout", None):
        raise ValueError(
            "--layout applies to [network] files; a [[layers]] file's function gets the state dict "
            'fn(values, X, Y) and returns {"0.weight": array, ...}'
        )
    func = import_function(args.function)
    func.__name__ = getattr(func, "__name__", args.function)
    report = verify_model(
        func,
        problem.model,
        problem.values,
        problem.X,
        problem.Y,
        rtol=args.rtol,
        atol=args.atol,
        loss=problem.loss,
        l2=problem.l2,
        label=args.function,
    )
    if report.crash:
        print(f"symprop verify: verification failed: {report.crash}", file=sys.stderr)
    text = report.to_markdown() if args.markdown else str(report)
    sys.stdout.write(text.rstrip("\n") + "\n")
    if not report:
        print(f"symprop verify: {args.function} does not match the exact gradient", file=sys.stderr)
        return 1
    return 0


def run_descend(args: Any, problem: NNProblem) -> int:
    from . import budget
    from .cli import JSON_VERSION, TABLE_PARAMS, TABLE_STEPS, print_json
    from .nn_descent import descend_model

    train = problem.train
    if getattr(args, "train", None):
        train = tuple(p.strip() for part in args.train for p in part.split(",") if p.strip())
    lr = args.lr if args.lr is not None else problem.lr
    tol = args.tol if args.tol is not None else problem.tol
    max_steps = problem.max_steps if args.max_steps is None else args.max_steps
    trace = descend_model(
        problem.model,
        problem.values,
        problem.X,
        problem.Y,
        train=train,
        lr=lr,
        tol=tol,
        max_steps=max_steps,
        loss=problem.loss,
        l2=problem.l2,
        time_limit=budget.seconds_allowed(),
    )
    if getattr(args, "plot", None):
        raise ValueError("descend --plot is not supported for [[layers]] problem files yet")
    if args.json:
        print_json(
            {
                "version": JSON_VERSION,
                "file": str(problem.source),
                "model": repr(problem.model),
                "train": list(trace.train),
                "lr": lr,
                "tol": tol,
                "max_steps": max_steps,
                "trace": trace.to_dict(),
            }
        )
    else:
        sys.stdout.write(
            _header(problem) + "\n" + trace.to_markdown(limit=TABLE_STEPS, params=TABLE_PARAMS).rstrip("\n") + "\n"
        )
    return 0


def run_unsupported(command: str) -> int:
    from .errors import UnsupportedError

    raise UnsupportedError(
        f"symprop {command} does not take [[layers]] problem files yet; use show, grad, verify or descend"
    )
