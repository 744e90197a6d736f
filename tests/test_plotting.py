"""Pictures render headless (Agg) as valid, non-blank images of the expected size, showing the right data."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.image import imread  # noqa: E402
from test_descent import seed002_slope, seed002_ssr  # noqa: E402  (the hand-written seed 002 oracle)

import symprop  # noqa: E402
from symprop import plotting  # noqa: E402
from symprop.descent import descend  # noqa: E402
from symprop.examples import SEED_000, SEED_001, SEED_002  # noqa: E402

E = SEED_002


@pytest.fixture(scope="module")
def trace():
    return descend(E.network, E.values, E.X, E.Y, train=E.train, lr=E.lr, tol=E.tol)


def check_png(fig, path, dpi: int = 100) -> np.ndarray:
    """Save, read back and check: PNG signature, size = figsize * dpi, and real content."""
    plotting.save(fig, path, dpi=dpi)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    width, height = (fig.get_size_inches() * dpi).round().astype(int)
    assert pixels.shape[:2] == (height, width)
    rgb = pixels[..., :3]
    ink = np.any(rgb < 0.9, axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.01 < ink < 0.6, f"image looks blank or flooded: {ink:.3f} of the pixels are inked"
    assert rgb.std() > 0.05
    return pixels


def texts_of(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


# --------------------------------------------------------------------------- loss against one parameter


def test_loss_curve_shows_the_exact_loss_and_the_descent_steps(trace, tmp_path):
    fig = plotting.loss_curve(E.network, E.values, E.X, E.Y, "b3", trace)
    check_png(fig, tmp_path / "curve.png")
    ax = fig.axes[0]
    curve = ax.lines[0]
    xs, ys = curve.get_xdata(), curve.get_ydata()
    for i in (0, len(xs) // 2, len(xs) - 1):  # the curve is the seed's SSR, by the hand oracle
        assert ys[i] == pytest.approx(seed002_ssr(xs[i]), rel=1e-10)
    points = ax.collections[0].get_offsets()
    assert np.allclose(points[:, 0], trace.path("b3"))
    assert np.allclose(points[:, 1], [seed002_ssr(b) for b in trace.path("b3")], rtol=1e-10)
    tangent = ax.lines[2]  # dotted path, then the tangent at step 0
    (x0, x1), (y0, y1) = tangent.get_xdata(), tangent.get_ydata()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(seed002_slope(0.0), rel=1e-9)  # slope -15.7 at b3 = 0
    assert any("-15.7" in text for text in texts_of(fig))
    assert xs.min() <= 0 and xs.max() >= trace.final["b3"]


def test_loss_curve_without_trace_and_as_svg(tmp_path):
    fig = plotting.loss_curve(E.network, E.values, E.X, E.Y, E.network.param("w3"), span=(-3, 1))
    path = plotting.save(fig, tmp_path / "curve.svg")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert len(path.read_text()) > 5000
    xs = fig.axes[0].lines[0].get_xdata()
    assert (xs.min(), xs.max()) == (-3, 1)


def test_loss_curve_refuses_a_trace_that_moves_other_parameters():
    multi = descend(E.network, E.values, E.X, E.Y, train=["b3", "w3"], max_steps=3)
    with pytest.raises(ValueError, match="moves w3, b3"):
        plotting.loss_curve(E.network, E.values, E.X, E.Y, "b3", multi)
    with pytest.raises(ValueError, match="exactly one parameter"):
        plotting.loss_curve(E.network, E.values, E.X, E.Y, ["b3", "w3"])
    with pytest.raises(ValueError, match="unknown parameter"):
        plotting.loss_curve(E.network, E.values, E.X, E.Y, "b7")
    with pytest.raises(ValueError, match="span"):
        plotting.loss_curve(E.network, E.values, E.X, E.Y, "b3", span=(2, 1))


def test_a_run_that_overflowed_is_drawn_without_warnings(tmp_path):
    import warnings

    net = symprop.Network([1, 1], output="identity", loss="ssr")
    X, Y, start = [1.0, 2.0], [1.0, 3.0], {"w1_1_1": 1e150, "b1_1": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diverged = descend(net, start, X, Y, train="w1_1_1", lr=1e150, max_steps=50)
        assert diverged.stopped == "diverged" and diverged.final_loss == np.inf
        curve = plotting.loss_curve(net, start, X, Y, "w1_1_1", diverged)
        history = plotting.loss_history(diverged)
        plotting.save(curve, tmp_path / "curve.png")
        plotting.save(history, tmp_path / "history.png")
    points = curve.axes[0].collections[0].get_offsets()
    assert points.shape == (1, 2) and np.all(np.isfinite(points))  # the point with an infinite loss is left out
    assert len(history.axes[0].lines[0].get_ydata()) == 1


# --------------------------------------------------------------------------- loss history and learning rates


def test_loss_history_plots_every_loss(trace, tmp_path):
    fig = plotting.loss_history(trace)
    check_png(fig, tmp_path / "history.png")
    ys = fig.axes[0].lines[0].get_ydata()
    assert np.allclose(ys, [seed002_ssr(b) for b in trace.path("b3")], rtol=1e-9)
    assert fig.axes[0].get_yscale() == "log"  # 20 down to 6e-5 spans more than two decades
    with pytest.raises(TypeError, match="Trace"):
        plotting.loss_history({"steps": []})


def test_loss_history_marks_divergence(tmp_path):
    diverged = descend(E.network, E.values, E.X, E.Y, train="b3", lr=0.5, tol=0.001)
    fig = plotting.loss_history(diverged)
    check_png(fig, tmp_path / "diverged.png")
    assert "diverged" in texts_of(fig)
    assert any(text.startswith("diverged at step 10") for text in texts_of(fig))


def test_compare_learning_rates_good_and_too_large(tmp_path):
    fig = plotting.compare_learning_rates(E.network, E.values, E.X, E.Y, "b3", lrs=(0.1, 0.5))
    check_png(fig, tmp_path / "compare.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "lr = 0.1: tol after 10 step(s)\n(the first 6 drawn)"
    assert titles[1].startswith("lr = 0.5: diverged")
    zigzag = fig.axes[1].collections[0].get_offsets()[:, 0]
    optimum = 2.6089
    assert all((a - optimum) * (b - optimum) < 0 for a, b in zip(zigzag, zigzag[1:]))


def test_compare_learning_rates_with_all_parameters_shows_histories(tmp_path):
    fig = plotting.compare_learning_rates(E.network, E.values, E.X, E.Y, None, lrs=(0.1, 1.0, 5.0))
    check_png(fig, tmp_path / "compare_all.png")
    assert len(fig.axes) == 3
    assert [ax.get_xlabel() for ax in fig.axes] == ["updates made"] * 3
    with pytest.raises(ValueError, match="lrs"):
        plotting.compare_learning_rates(E.network, E.values, E.X, E.Y, "b3", lrs=0.1)


# --------------------------------------------------------------------------- the network diagram


@pytest.mark.parametrize("example", [SEED_002, SEED_001, SEED_000], ids=lambda e: e.name)
def test_network_diagram_labels_every_edge_and_bias(example, tmp_path):
    net = example.network
    fig = plotting.network_diagram(net, example.values)
    check_png(fig, tmp_path / f"{example.name}.png")
    texts = texts_of(fig)
    for info in net.param_infos:
        name = symprop.graph.latex_name(info.name)
        value = format(float(example.values[info.name]), ".3g")
        assert f"${name}$ = {value}" in texts, f"no label for {info.name}"
    n_edges = sum(a * b for a, b in zip(net.layers, net.layers[1:]))
    assert len(fig.axes[0].lines) == n_edges
    assert len(fig.axes[0].patches) == sum(net.layers)  # one circle per neuron


def test_network_diagram_without_values_uses_the_naming_in_use(tmp_path):
    flat = plotting.network_diagram(E.network)
    default = plotting.network_diagram(symprop.Network([1, 2, 1]))
    assert "$w_{1}$" in texts_of(flat) and "$b_{3}$" in texts_of(flat)
    assert "$w^{[1]}_{11}$" in texts_of(default) and "$b^{[2]}_{1}$" in texts_of(default)
    check_png(default, tmp_path / "default.png")
    with pytest.raises(TypeError, match="Network"):
        plotting.network_diagram("1-2-1")


def test_diagram_labels_do_not_overlap():
    fig = plotting.network_diagram(SEED_001.network, SEED_001.values)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lay the figure out so that text extents are known
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_text().startswith("$w")]
    assert len(boxes) == 12
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_w = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_h = min(a.y1, b.y1) - max(a.y0, b.y0)
            # rotated labels have loose axis-aligned boxes; allow a small corner contact only
            assert (
                overlap_w <= 0
                or overlap_h <= 0
                or overlap_w * overlap_h < 0.2 * min(a.width * a.height, b.width * b.height)
            )


# --------------------------------------------------------------------------- save and the optional dependency


def test_save_rejects_other_formats(tmp_path):
    fig = plotting.network_diagram(E.network)
    with pytest.raises(ValueError, match=r"\.png, \.svg"):
        plotting.save(fig, tmp_path / "net.pdf")
    with pytest.raises(ValueError, match="does not exist"):
        plotting.save(fig, tmp_path / "missing" / "net.png")


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(ImportError, match=r'pip install "symprop\[plot\]"'):
        plotting.network_diagram(E.network)
