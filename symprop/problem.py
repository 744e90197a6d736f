"""Problem files: a small TOML file naming the network, the data and the parameter values.

title = "Seed 002: fitting b3"          # optional
[network]                               # required
layers = [1, 2, 1]
hidden = "softplus"                     # one name, or one per hidden layer; "leaky_relu(0.2)" takes a parameter
output = "identity"
loss = "ssr"
naming = "flat"                         # optional, "default" or "flat"
reduction = "sum"                       # optional, PyTorch's "mean" | "sum" | "batchmean" (docs/losses.md)
l2 = 0.01                               # optional: adds l2 * sum(W**2) over every weight (not the biases)
[tie]                                   # optional: entries sharing one parameter, named by the key
bh = ["b1", "b2"]
[data]                                  # required: inline x/y, or a CSV file
x = [0.0, 0.5, 1.0]                     # (N, n0), or (N,) when n0 = 1
y = [0.0, 1.0, 0.0]
# csv = "data.csv"; x_columns = ["dosage"]; y_columns = ["efficacy"]   (path relative to this file)
[values]                                # required: every parameter by name, or init (+ overrides)
w1 = 3.34
# init = "zeros" | "normal"; seed = 0; std = 1.0
[train]                                 # optional: what gradient descent moves, and how
params = ["b3"]                         # default: all parameters
lr = 0.1
tol = 0.001
max_steps = 1000
[derive]                                # optional: the parameter a derivation focuses on
param = "b3"
[layout]                                # optional: how `symprop verify` calls your function
samples = "columns"                     # rows | columns | each | each_column; weights = "in_out"; ...
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import listing, printable, suggest
from .spec import Network, as_data

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS: dict[str, tuple[str, ...]] = {
    "network": ("layers", "hidden", "output", "loss", "naming", "reduction", "l2", "tie"),
    "data": ("x", "y", "csv", "x_columns", "y_columns"),
    "values": ("init", "seed", "std"),  # plus parameter names
    "train": ("params", "lr", "tol", "max_steps"),
    "derive": ("param",),
    "layout": ("samples", "weights", "bias", "order"),  # how `symprop verify` calls your function
}
TOP_LEVEL = ("title", "description") + tuple(SECTIONS) + ("tie",)
INITS = ("zeros", "normal")
#: the largest max_steps a file may ask for (descent keeps a bounded history, and a run without tol
#: is checked against the work budget, so this only rules out nonsense such as 1e300)
MAX_STEPS = 10**15


class ProblemError(ValueError):
    """A problem file that cannot be used; the message names the file, the key and what is valid."""


@dataclass(frozen=True)
class Problem:
    """A loaded problem: network, data (float64), parameter values and the optional train/derive settings."""

    network: Network
    X: np.ndarray
    Y: np.ndarray
    values: dict[str, Any]
    title: str = ""
    description: str = ""
    train: tuple[str, ...] | None = None
    lr: float = 0.1
    tol: float | None = None
    max_steps: int = 1000
    param: str | None = None
    source: Path | None = field(default=None, compare=False)
    #: the [layout] table: how `symprop verify` calls the user's function (a symprop.Layout, or None)
    layout: Any = None

    @property
    def fixed(self) -> dict[str, Any]:
        """The values of every parameter that is not trained (what seed 002 keeps fixed)."""
        if self.train is None:
            return {}
        return {k: v for k, v in self.values.items() if k not in self.train}


def load_problem(path: str | Path, *, allow_outside_data: bool = False) -> Problem:
    """Read and validate a problem file.

    A CSV named by ``[data] csv`` is read relative to the problem file's directory and must lie
    inside it, unless ``allow_outside_data`` (``--allow-outside-data`` on the command line).
    """
    from . import budget
    from .examples import EXAMPLES

    if not Path(path).exists() and str(path) in EXAMPLES:  # a built-in example by name: symprop derive seed002
        return problem_from_dict(EXAMPLES[str(path)].problem_dict(), source=None)
    path = Path(path)
    shown = printable(str(path))
    if path.is_dir():
        raise ProblemError(f"{shown}: is a directory; give a problem file (.toml) such as {_example_in(path)}")
    if not path.is_file():
        nearby = sorted(p.name for p in path.parent.glob("*.toml")) if path.parent.is_dir() else []
        hint = suggest(path.name, nearby + list(EXAMPLES)) or suggest(path.name, nearby)
        raise ProblemError(
            f"{shown}: no such problem file (nor a built-in example: {listing(EXAMPLES)})." + printable(hint)
        )
    budget.check(
        budget.reading(path.stat().st_size, f"reading the problem file {shown}"),
        ['a smaller file (put large data in a CSV: [data] csv = "data.csv")'],
    )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{shown}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ProblemError(f"{shown}: not a UTF-8 text file") from None
    except RecursionError:
        raise ProblemError(f"{shown}: not valid TOML: nested too deeply") from None
    return problem_from_dict(raw, source=path, allow_outside_data=allow_outside_data)


def _example_in(directory: Path) -> str:
    found = sorted(directory.glob("*.toml"))
    return str(found[0]) if found else "derivations/seed002_softplus_ssr.toml"


def problem_from_dict(raw: dict[str, Any], source: Path | None = None, *, allow_outside_data: bool = False) -> Problem:
    """Validate a parsed problem (the dict a TOML file gives)."""
    from . import budget

    where = str(source) if source else "<problem>"

    def fail(msg: str) -> ProblemError:
        return ProblemError(printable(f"{where}: {msg}"))  # keys and values are echoed: no raw escape sequences

    if "layers" in raw:  # a symprop.nn model: [[layers]] tables with torch's names (symprop/nn_problem.py)
        from .nn_problem import nn_problem_from_dict

        return nn_problem_from_dict(raw, source, fail)
    for key in raw:
        if key not in TOP_LEVEL:
            raise fail(f"unknown key '{key}'; valid top-level keys: {listing(TOP_LEVEL)}." + suggest(key, TOP_LEVEL))
    for name in ("network", "data", "values"):
        if name not in raw:
            raise fail(f"missing section [{name}]")
    for name in SECTIONS:
        if name in raw and not isinstance(raw[name], dict):
            raise fail(f"'{name}' must be a table [{name}], got {type(raw[name]).__name__}")

    net_raw = raw["network"]
    _check_keys(net_raw, SECTIONS["network"], "network", fail)
    if "layers" not in net_raw:
        raise fail("[network] needs 'layers', e.g. layers = [1, 2, 1]")
    if "tie" in raw:  # [tie] bh = ["b1", "b2"]: shared parameters (also accepted as [network.tie])
        if not isinstance(raw["tie"], dict):
            raise fail(f"'tie' must be a table [tie] of name = [\"entry\", ...], got {type(raw['tie']).__name__}")
        if "tie" in net_raw:
            raise fail("ties are given both as [tie] and in [network]; use one")
        net_raw = {**net_raw, "tie": raw["tie"]}
    try:
        net = Network(**{k: v for k, v in net_raw.items()})
    except (ValueError, TypeError) as exc:
        raise fail(f"[network]: {exc}") from None
    try:
        budget.check(budget.parameters(net), ["a smaller network (fewer or narrower layers)"])
    except budget.BudgetError as exc:
        raise budget.BudgetError(printable(f"{where}: {exc}"), exc.estimate) from None

    X, Y = _data(raw["data"], net, source, fail, allow_outside_data)
    values = _values(raw["values"], net, fail)

    train_raw = raw.get("train", {})
    _check_keys(train_raw, SECTIONS["train"], "train", fail)
    train = None
    if "params" in train_raw:
        params = train_raw["params"]
        if isinstance(params, str):
            params = [params]
        if not isinstance(params, list) or not params or not all(isinstance(p, str) for p in params):
            raise fail('[train] params must be a non-empty list of parameter names, e.g. params = ["b3"]')
        bad = [p for p in params if p not in net.param_names]
        if bad:
            raise fail(
                f"[train] params: unknown parameter(s) {listing(bad)}; valid: {listing(net.param_names)}."
                + suggest(bad[0], net.param_names)
            )
        train = tuple(params)
    lr = _number(train_raw.get("lr", 0.1), "[train] lr", fail, positive=True)
    tol = train_raw.get("tol")
    tol = None if tol is None else _number(tol, "[train] tol", fail, positive=True)
    max_steps = train_raw.get("max_steps", 1000)
    if isinstance(max_steps, float) and max_steps.is_integer() and 1 <= max_steps <= MAX_STEPS:
        max_steps = int(max_steps)  # max_steps = 1e9: TOML has no integer exponent notation
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS:
        raise fail(f"[train] max_steps must be a positive integer (at most {MAX_STEPS:.0e}), got {max_steps!r}")

    derive_raw = raw.get("derive", {})
    _check_keys(derive_raw, SECTIONS["derive"], "derive", fail)
    param = derive_raw.get("param")
    if param is not None and param not in net.param_names:
        raise fail(
            f"[derive] param: unknown parameter {param!r}; valid: {listing(net.param_names)}."
            + suggest(str(param), net.param_names)
        )

    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"'{key}' must be a string")
    layout = _layout(raw.get("layout"), fail)
    return Problem(
        net,
        X,
        Y,
        values,
        raw.get("title", ""),
        raw.get("description", ""),
        train,
        float(lr),
        None if tol is None else float(tol),
        int(max_steps),
        param,
        source,
        layout,
    )


def _layout(table: Any, fail) -> Any:
    """The optional [layout] table (its data stay rows in the file; the layout is how verify calls you)."""
    if table is None:
        return None
    from .layout import Layout

    _check_keys(table, SECTIONS["layout"], "layout", fail)
    try:
        return Layout.parse(dict(table), "[layout]")
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None


def _check_keys(table: dict, valid: tuple[str, ...], section: str, fail, extra: tuple[str, ...] = ()) -> None:
    for key in table:
        if key not in valid and key not in extra:
            allowed = valid + extra
            raise fail(f"[{section}] unknown key '{key}'; valid: {listing(allowed)}." + suggest(key, allowed))


def _number(value: Any, what: str, fail, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"{what} must be a number, got {value!r}")
    if positive and not value > 0:
        raise fail(f"{what} must be positive, got {value!r}")
    return value


def _data(
    table: dict, net: Network, source: Path | None, fail, allow_outside: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    _check_keys(table, SECTIONS["data"], "data", fail)
    if "csv" in table:
        if "x" in table or "y" in table:
            raise fail("[data] gives both csv and inline x/y; use one")
        if not isinstance(table["csv"], str) or not table["csv"].strip():
            raise fail('[data] csv must be a file name, e.g. csv = "data.csv" (relative to the problem file)')
        for key in ("x_columns", "y_columns"):
            cols = table.get(key)
            if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
                raise fail(f'[data] with csv needs {key} = ["column", ...] naming the CSV columns')
        path = _data_path(table["csv"], source, fail, allow_outside)
        X, Y = _read_csv(path, table["x_columns"], table["y_columns"], fail)
    else:
        missing = [k for k in ("x", "y") if k not in table]
        if missing:
            raise fail(f'[data] needs inline {" and ".join(missing)} (or csv = "file.csv" with x_columns/y_columns)')
        X, Y = table["x"], table["y"]
        for key in ("x", "y"):
            _check_numbers(table[key], f"[data] {key}", fail)
    try:
        return as_data(net, X, Y)
    except (ValueError, TypeError) as exc:
        raise fail(f"[data]: {exc}") from None


def _check_numbers(value: Any, what: str, fail) -> None:
    """Inline data holds numbers only: no strings ("0.5"), no booleans, as for [values]."""
    stack = [(value, what)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            kind = {bool: "a boolean", str: "a string"}.get(type(item), f"a {type(item).__name__}")
            raise fail(f"{where} must be a number, got {item!r} ({kind}); write numbers such as 0.5 or 1, not quoted")


def _data_path(name: str, source: Path | None, fail, allow_outside: bool) -> Path:
    """The CSV relative to the problem file's directory; outside it only when allowed."""
    base = (source.parent if source else Path.cwd()).resolve()
    path = (base / Path(name).expanduser()).resolve()
    if not allow_outside and base != path and base not in path.parents:
        raise fail(
            f"[data] csv {name!r} is outside the problem file's directory {base}; move the data next to the "
            "file, or pass --allow-outside-data (load_problem(..., allow_outside_data=True)) if you trust it"
        )
    return path


def _read_csv(path: Path, x_cols: list[str], y_cols: list[str], fail) -> tuple[list, list]:
    """Read the columns; errors name the file, line and column, never the file's contents."""
    from . import budget

    if not path.is_file():
        raise fail(f"[data] csv: no such file {path}")
    budget.check(budget.reading(path.stat().st_size, f"reading the CSV {path.name}"), ["a smaller CSV (fewer samples)"])
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a UTF-8 byte-order mark is not a column name
            reader = csv.DictReader(fh)
            header = [h.strip() if isinstance(h, str) else h for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            for col in x_cols + y_cols:
                if col not in header:
                    raise fail(
                        f"[data] csv {path.name}: no column '{col}' in its first line ({len(header)} column(s))."
                        + suggest(col, [h for h in header if isinstance(h, str) and len(h) <= 40])
                    )
            X, Y = [], []
            for line, row in enumerate(reader, start=2):
                for cols, out in ((x_cols, X), (y_cols, Y)):
                    numbers = []
                    for c in cols:
                        try:
                            numbers.append(float(row[c]))
                        except (TypeError, ValueError):
                            raise fail(f"[data] csv {path.name}, line {line}, column '{c}': not a number") from None
                    out.append(numbers)
    except UnicodeDecodeError:
        raise fail(f"[data] csv {path.name}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise fail(f"[data] csv {path.name}: not a valid CSV file ({exc})") from None
    return X, Y


def _values(table: dict, net: Network, fail) -> dict[str, Any]:
    init = table.get("init")
    names = [k for k in table if k not in SECTIONS["values"]]
    unknown = [k for k in names if k not in net.param_names]
    if unknown:
        raise fail(
            f"[values] unknown key(s) {listing(unknown)}; valid: init, seed, std and the parameter names "
            f"{listing(net.param_names)}." + suggest(unknown[0], net.param_names + SECTIONS["values"])
        )
    values: dict[str, Any] = {}
    if init is not None:
        if init not in INITS:
            raise fail(f"[values] init must be one of {', '.join(INITS)}, got {init!r}" + suggest(str(init), INITS))
        seed = table.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise fail(f"[values] seed must be a whole number >= 0, got {seed!r}")
        std = _number(table.get("std", 1.0), "[values] std", fail, positive=True)
        rng = np.random.default_rng(seed)
        draws = np.zeros(net.n_params) if init == "zeros" else rng.normal(0.0, std, size=net.n_params)
        if not np.all(np.isfinite(draws)):
            raise fail(f"[values] std = {std!r} gives values beyond float64; use a smaller std")
        values.update(zip(net.param_names, draws.tolist()))
    elif "seed" in table or "std" in table:
        raise fail('[values] seed and std only apply with init = "normal"')
    for name in names:
        value = table[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"[values] {name} must be a number, got {value!r}")
        if not np.isfinite(value):
            raise fail(f"[values] {name} must be finite, got {value!r}")
        values[name] = value
    missing = [n for n in net.param_names if n not in values]
    if missing:
        raise fail(
            f"[values] missing {len(missing)} of {net.n_params} parameters: {listing(missing)} "
            '(give every parameter, or init = "zeros" | "normal")'
        )
    return {n: values[n] for n in net.param_names}
