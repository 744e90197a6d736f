"""Pictures of gradient descent and of the network itself (matplotlib, imported lazily)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .descent import Trace, _check_order, check_network, descend, train_names
from .errors import listing
from .spec import Network, arrays_to_dict, as_data, parse_values

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: file types ``save`` writes, by extension
FORMATS = ("png", "svg")
_INSTALL = 'symprop.plotting needs matplotlib; install it with: pip install "symprop[plot]"'


_SHOWN: type | None = None


def figure_class() -> type:
    """matplotlib's Figure with ``_repr_png_``/``_repr_svg_``: it shows itself in Jupyter and IPython.

    symprop draws without pyplot (nothing global, no display needed), so no backend registers its
    figures with IPython; this subclass makes ``loss_curve(...)`` display as a picture on its own,
    without ``%matplotlib inline``. It is a ``matplotlib.figure.Figure`` in every other respect.
    """
    global _SHOWN
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in the tests
        raise ImportError(_INSTALL) from exc
    if _SHOWN is None:

        class SympropFigure(Figure):
            """A Figure that IPython displays as PNG (and SVG on request), without any magic."""

            def _render(self, fmt: str) -> bytes:
                import io

                buf = io.BytesIO()
                self.savefig(buf, format=fmt, dpi=100, metadata=_metadata(fmt))
                return buf.getvalue()

            def _repr_png_(self) -> bytes:
                return self._render("png")

            def _repr_svg_(self) -> str:
                with _svg_salt():
                    return self._render("svg").decode("utf-8")

        SympropFigure.__module__ = __name__
        SympropFigure.__qualname__ = "SympropFigure"
        _SHOWN = SympropFigure
    return _SHOWN


def _metadata(fmt: str) -> dict[str, Any]:
    """File metadata without the date or a version that changes: the same figure gives the same bytes."""
    if fmt == "svg":
        return {"Date": None, "Creator": None}
    return {"Software": None}


class _svg_salt:
    """matplotlib's SVG ids come from a hash salted randomly per run; fix the salt while writing."""

    def __enter__(self):
        import matplotlib

        self._old = matplotlib.rcParams["svg.hashsalt"]
        matplotlib.rcParams["svg.hashsalt"] = "symprop"

    def __exit__(self, *exc):
        import matplotlib

        matplotlib.rcParams["svg.hashsalt"] = self._old
        return False


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """A new Figure (no pyplot, so nothing global and no display needed) with ``ncols`` axes."""
    fig = figure_class()(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write a figure as PNG or SVG, chosen by the file's extension; returns the path."""
    from .atomic import write_with

    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"cannot save a figure as {path.name!r}: the extension must be one of .png, .svg")
    if not path.parent.exists():
        raise ValueError(f"cannot save {path}: the folder {path.parent} does not exist")
    try:  # written to a temporary file and renamed into place: never a half-written figure
        with _svg_salt():  # deterministic: no date, fixed ids (regenerating gives the same file)
            write_with(path, lambda fh: fig.savefig(fh, format=ext, dpi=dpi, metadata=_metadata(ext)), what="figure")
    except ValueError as exc:
        if "arange" in str(exc) or "cannot compute length" in str(exc) or "Maximum allowed size" in str(exc):
            raise ValueError(
                f"cannot draw {path.name}: the numbers to plot are too large for float64 axes "
                "(values near 1e308 or a loss that overflowed); use smaller values"
            ) from None
        raise
    return path


# --------------------------------------------------------------------------- loss against one parameter


def _one_param(net: Network, param: Any) -> str:
    names = train_names(net, param)
    if len(names) != 1:
        raise ValueError(f"param must name exactly one parameter of {net!r}, got {listing(names)}")
    return names[0]


def _slice(net: Network, X: np.ndarray, Y: np.ndarray, values: dict[str, float], name: str, grid: np.ndarray):
    """Loss and slope dL/d(name) along ``grid``, every other parameter fixed at ``values``."""
    compiled = net.compile()
    weights, biases = parse_values(net, values)
    slots = net.slots(name)  # a tied parameter fills several entries: move them all, sum their slopes
    losses, slopes = [], []
    with np.errstate(all="ignore"):
        for x in grid:
            for info in slots:
                (weights if info.kind == "w" else biases)[info.layer - 1][info.index] = x
            losses.append(compiled.loss_arrays(weights, biases, X, Y, check=False))
            dW, db = compiled.gradient_arrays(weights, biases, X, Y, check=False)
            slopes.append(sum((dW if info.kind == "w" else db)[info.layer - 1][info.index] for info in slots))
    return np.array(losses, dtype=float), np.array(slopes, dtype=float)


def _check_trace(net: Network, trace: Trace, values: dict[str, float], name: str) -> None:
    if trace.network != net:
        raise ValueError(f"the trace is of {trace.network!r}, not of {net!r}")
    if trace.train != (name,):
        raise ValueError(
            f"loss_curve draws the loss against {name} with every other parameter fixed, but the trace "
            f"moves {listing(trace.train)}; descend with train=[{name!r}] or draw loss_history(trace)"
        )
    moved = [n for n in net.param_names if n != name and not math.isclose(trace.initial[n], values[n], abs_tol=1e-12)]
    if moved:
        raise ValueError(f"the trace started from other values of {listing(moved)} than the values given")


def _range(points: Sequence[float], span: tuple[float, float] | None) -> tuple[float, float]:
    if span is not None:
        lo, hi = (float(v) for v in span)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"span must be (low, high) with low < high, got {span!r}")
        return lo, hi
    lo, hi = min(points), max(points)
    with np.errstate(over="ignore"):
        pad = max(0.25 * (hi - lo), 1e-6 * max(abs(lo), abs(hi)), 1.0)
        lo, hi = lo - pad, hi + pad
    if not (math.isfinite(lo) and math.isfinite(hi)) or max(abs(lo), abs(hi)) > 1e300:
        raise ValueError(
            f"cannot draw the loss against a parameter whose values reach {max(abs(v) for v in points):.3g}: "
            "too close to the float64 limit (1.8e308) for an axis; use smaller values or span=(low, high)"
        )
    return lo, hi


def loss_curve(
    net: Network,
    values: Any,
    X: Any,
    Y: Any,
    param: Any,
    trace: Trace | None = None,
    *,
    span: tuple[float, float] | None = None,
    tangents: int = 4,
    show_steps: int | None = None,
    points: int = 300,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The loss against one parameter, the others fixed at ``values``; a trace's steps marked with tangents.

    ``tangents`` draws the tangent line (slope dL/dp) at the first that many steps; ``show_steps``
    limits how many of the trace's points are drawn (all by default).
    """
    _check_order(check_network(net, "loss_curve"), values, X, Y, "loss_curve")
    name = _one_param(net, param)
    X, Y = as_data(net, X, Y)
    base = arrays_to_dict(net, *parse_values(net, values))
    path: list[float] = []
    if trace is not None:
        _check_trace(net, trace, base, name)
        path = _finite_prefix(net, X, Y, base, name, trace.path(name)[: None if show_steps is None else show_steps + 1])
    lo, hi = _range(path + [base[name]], span)
    grid = np.linspace(lo, hi, points)
    curve, _ = _slice(net, X, Y, base, name, grid)
    if ax is None:
        fig, (ax,) = _figure(6.4, 4.4)
    else:
        fig = ax.figure
    label = f"${_latex(name)}$"
    ax.plot(grid, curve, color="0.25", lw=1.6, label=f"loss ({net.loss_name}) against {label}")
    if path:
        finite = curve[np.isfinite(curve)]
        height = float(finite.max() - finite.min()) if finite.size else 1.0
        with np.errstate(all="ignore"):  # steep tangents of a diverging run may overflow; they are clipped
            _draw_path(ax, net, X, Y, base, name, path, tangents, hi - lo, height or 1.0)
    _limit_y(ax, curve)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(label)
    ax.set_ylabel(f"loss ({net.loss_name})")
    ax.set_title(title if title is not None else _curve_title(net, name, trace))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", fontsize="small")
    return fig


def _finite_prefix(net: Network, X, Y, base: dict[str, float], name: str, path: list[float]) -> list[float]:
    """The steps of a path up to (not including) the first one whose value or loss is not finite."""
    with np.errstate(all="ignore"):
        finite = np.isfinite(path)
        losses, _ = _slice(net, X, Y, base, name, np.where(finite, path, 0.0))
    ok = finite & np.isfinite(losses)
    stop = len(path) if ok.all() else int(np.argmin(ok))
    return list(path[:stop])


def _draw_path(
    ax: Axes,
    net: Network,
    X,
    Y,
    base: dict[str, float],
    name: str,
    path: list[float],
    tangents: int,
    width: float,
    height: float,
) -> None:
    from matplotlib import colormaps

    losses, slopes = _slice(net, X, Y, base, name, np.array(path))
    colors = colormaps["viridis"](np.linspace(0.0, 0.85, len(path)))
    ax.plot(path, losses, color="tab:red", lw=0.9, ls=":", alpha=0.8)
    ax.scatter(path, losses, c=colors, s=36, zorder=3, edgecolors="black", linewidths=0.5, label="descent steps")
    half = 0.08 * width
    labelled: list[tuple[float, float]] = []
    for i, (x, y, g) in enumerate(zip(path[:tangents], losses, slopes)):
        xs = np.array([x - half, x + half])
        ax.plot(xs, y + g * (xs - x), color="tab:orange", lw=1.8, zorder=2, label="tangent (slope)" if i == 0 else None)
        if all(abs(x - ox) > 0.3 * width or abs(y - oy) > 0.08 * height for ox, oy in labelled):
            labelled.append((x, y))  # notes that would overlap an earlier one are left out
            ax.annotate(
                f"step {i}: slope {g:.3g}",
                (x, y),
                textcoords="offset points",
                xytext=(8, 6),
                fontsize="x-small",
                color="0.15",
            )


def _limit_y(ax: Axes, curve: np.ndarray) -> None:
    finite = curve[np.isfinite(curve)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        pad = max(0.08 * (hi - lo), 1e-6 * max(abs(lo), abs(hi)), 1e-12)  # never a zero-height range
        ax.set_ylim(lo - pad, hi + pad)


def _curve_title(net: Network, name: str, trace: Trace | None) -> str:
    if trace is None:
        return f"loss against {name}, other parameters fixed"
    return f"descent on {name}, lr = {trace.lr:g}: {trace.stopped} after {len(trace.steps)} step(s)"


def _latex(name: str) -> str:
    from .graph import latex_name

    return latex_name(name)


# --------------------------------------------------------------------------- loss history


def loss_history(trace: Trace, *, log: bool | None = None, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The loss against the step number (log scale automatically when it spans > 2 decades)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"loss_history needs a Trace from symprop.descend, got {type(trace).__name__}")
    losses = np.array(trace.losses, dtype=float)
    steps = np.arange(len(losses))
    if ax is None:
        fig, (ax,) = _figure(6.4, 4.0)
    else:
        fig = ax.figure
    finite = losses[np.isfinite(losses)]
    if log is None:
        log = bool(finite.size) and finite.min() > 0 and finite.max() / finite.min() > 100
    ax.plot(
        steps[np.isfinite(losses)], finite, marker="o", ms=3.5 if len(losses) <= 60 else 0, lw=1.3, color="tab:blue"
    )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("updates made")  # x = k: the loss after k updates (x = 0: at the starting values)
    ax.set_ylabel(f"loss ({trace.network.loss_name})")
    ax.set_title(title if title is not None else f"lr = {trace.lr:g}: {trace.stopped} after {len(trace.steps)} step(s)")
    ax.grid(alpha=0.3, which="both")
    if trace.stopped == "diverged" and finite.size:
        last = int(np.flatnonzero(np.isfinite(losses))[-1])
        ax.plot(steps[last], losses[last], marker="X", ms=10, color="tab:red", ls="none")
        ax.annotate(
            "diverged",
            (steps[last], losses[last]),
            textcoords="offset points",
            xytext=(-10, 0),
            ha="right",
            va="center",
            color="tab:red",
            fontsize="small",
        )
    ax.text(
        0.0,
        -0.16,
        _wrap(trace.reason, 95),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize="x-small",
        color="0.25",
    )
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


# --------------------------------------------------------------------------- learning rates side by side


def compare_learning_rates(
    net: Network,
    values: Any,
    X: Any,
    Y: Any,
    train: Any = None,
    lrs: Sequence[float] = (0.1, 0.4),
    *,
    tol: float | None = 0.001,
    max_steps: int = 200,
    show_steps: int = 6,
) -> Figure:
    """One panel per learning rate: a good one converging, a too-large one zigzagging or diverging.

    With one trained parameter each panel is its loss curve with the descent path (the first
    ``show_steps`` steps); with several, each panel is the loss history.
    """
    if isinstance(lrs, (int, float)) or not isinstance(lrs, Sequence) or not lrs:
        raise ValueError(f"lrs must be a non-empty list of learning rates such as (0.1, 0.5), got {lrs!r}")
    _check_order(check_network(net, "compare_learning_rates"), values, X, Y, "compare_learning_rates")
    names = train_names(net, train)
    traces = [descend(net, values, X, Y, train=names, lr=lr, tol=tol, max_steps=max_steps) for lr in lrs]
    fig, axes = _figure(5.2 * len(lrs), 4.4, ncols=len(lrs))
    for ax, trace in zip(axes, traces):
        title = f"lr = {trace.lr:g}: {trace.stopped} after {len(trace.steps)} step(s)"
        if len(names) == 1 and len(trace.steps) > show_steps:
            title += f"\n(the first {show_steps} drawn)"
        if len(names) == 1:
            loss_curve(
                net,
                values,
                X,
                Y,
                names[0],
                trace,
                show_steps=show_steps,
                tangents=min(3, show_steps),
                ax=ax,
                title=title,
            )
        else:
            loss_history(trace, ax=ax, title=title)
    return fig


# --------------------------------------------------------------------------- the network diagram


_GAP = 3.6  # horizontal distance between layers; one data unit is drawn as about one inch


def network_diagram(net: Network, values: Any = None, *, digits: int = 3) -> Figure:
    """Neurons by layer; every edge labelled with its weight's name (and value), biases beside neurons."""
    check_network(net, "network_diagram")
    known = arrays_to_dict(net, *parse_values(net, values)) if values is not None else {}
    widest, depth = max(net.layers), net.depth
    top, bottom = (widest - 1) / 2 + 0.95, -(widest - 1) / 2 - 0.7
    fig, (ax,) = _figure(_GAP * depth + 1.8, top - bottom + 0.3)
    pos = {(l, j): (_GAP * l, (n - 1) / 2 - j) for l, n in enumerate(net.layers) for j in range(n)}
    edges = [
        (info, pos[(info.layer - 1, info.col)], pos[(info.layer, info.row)])
        for info in net.param_infos
        if info.kind == "w"
    ]
    placed: list[tuple[float, float, float, float]] = []
    for _info, start, end in edges:
        ax.plot([start[0], end[0]], [start[1], end[1]], color="0.6", lw=1.0, zorder=1)
    for info, start, end in edges:
        text = _param_text(net.param_of[info.name], known, digits)
        x, y, box = _place_label(
            start,
            end,
            _text_width(text),
            [(s, e) for _, s, e in edges if (s, e) != (start, end)],
            placed,
            list(pos.values()),
        )
        placed.append(box)
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize="x-small",
            zorder=2,
            rotation=math.degrees(math.atan2(end[1] - start[1], end[0] - start[0])),
            rotation_mode="anchor",
            bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.9},
        )
    for (l, j), (x, y) in pos.items():
        ax.add_patch(_circle((x, y), "lavender" if l == 0 else "mistyrose" if l == depth else "lightsteelblue"))
        ax.text(x, y, _neuron_label(l, j), ha="center", va="center", fontsize="small", zorder=4)
    for info in net.param_infos:
        if info.kind == "b":
            x, y = pos[(info.layer, info.row)]
            ax.text(
                x,
                y - 0.28,
                _param_text(net.param_of[info.name], known, digits),
                ha="center",
                va="top",
                fontsize="x-small",
                color="darkred",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
            )
    for l in range(len(net.layers)):
        ax.text(_GAP * l, top - 0.05, _layer_title(net, l), ha="center", va="top", fontsize="small")
    ax.set_xlim(-0.9, _GAP * depth + 0.9)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal", adjustable="box")
    ax.axis("off")
    return fig


def _circle(center: tuple[float, float], color: str):
    from matplotlib.patches import Circle

    return Circle(center, 0.22, facecolor=color, edgecolor="0.2", zorder=3)


def _text_width(text: str) -> float:
    """Rough width in inches of an x-small label (mathtext markup removed)."""
    visible = text.replace("$", "").replace("^{", "").replace("_{", "").replace("{", "").replace("}", "")
    return 0.052 * len(visible) + 0.08


def _place_label(start, end, width: float, others, placed, neurons) -> tuple[float, float, tuple]:
    """Where along an edge its label overlaps least with placed labels, other edges and neurons.

    Returns the centre and the label's box as (x, y, half width, half height), the label lying
    along the edge; candidates run from 22% to 78% of the edge, ties going to the middle.
    """
    (x0, y0), (x1, y1) = start, end
    angle = math.atan2(y1 - y0, x1 - x0)
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    height = 0.16
    hx, hy = 0.5 * (width * c + height * s), 0.5 * (width * s + height * c)
    best, best_score = None, -math.inf
    for t in np.linspace(0.22, 0.78, 29):
        x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        clear = min(
            [max(abs(x - px) / (hx + phx), abs(y - py) / (hy + phy)) for px, py, phx, phy in placed]
            + [max(abs(x - nx) / (hx + 0.25), abs(y - ny) / (hy + 0.25)) for nx, ny in neurons]
            + [2.0]
        )
        crossing = min([_distance_to_segment((x, y), a, b) for a, b in others] + [1.0])
        score = 10 * min(clear, 1.2) + min(crossing, 0.3) - 0.1 * abs(t - 0.5)
        if score > best_score:
            best, best_score = (x, y, (x, y, hx, hy)), score
    return best


def _distance_to_segment(p, a, b) -> float:
    (px, py), (ax_, ay), (bx, by) = p, a, b
    dx, dy = bx - ax_, by - ay
    t = max(0.0, min(1.0, ((px - ax_) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax_ + t * dx), py - (ay + t * dy))


def _param_text(name: str, known: dict[str, float], digits: int) -> str:
    text = f"${_latex(name)}$"
    return f"{text} = {known[name]:.{digits}g}" if name in known else text


def _neuron_label(layer: int, j: int) -> str:
    if layer == 0:
        return f"$x_{{{j + 1}}}$"
    return f"$a^{{[{layer}]}}_{{{j + 1}}}$"


def _layer_title(net: Network, layer: int) -> str:
    if layer == 0:
        return "input"
    kind = "output" if layer == net.depth else f"hidden {layer}"
    return f"{kind}\n({net.activations[layer - 1]})"
