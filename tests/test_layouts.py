"""symprop.Layout: hand-written backprop in the layouts people use, verified with at most three lines of glue.

The implementations below are written for these tests in four common styles (they are not copied from
anywhere): per-sample column vectors returning (nabla_b, nabla_w); a course's column-sample batch with a
dict of parameters; the ``X @ W`` style with integer labels; a plain per-sample loop over flat vectors.
Each is checked as it is, then with a planted bug that must fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import symprop
from symprop import Layout, Network
from symprop.pytest_plugin import GradientCheck


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------- style 1: per-sample column vectors


def column_backprop(weights, biases, x, y, half=True):
    """One sample as columns: x (n0, 1), y (nL, 1); C_x = ||a - y||^2 / 2; returns (dC/db, dC/dW)."""
    a, pre, outs = x, [], [x]
    for W, b in zip(weights, biases):
        pre.append(W @ a + b)
        a = sigmoid(pre[-1])
        outs.append(a)
    err = (outs[-1] - y) * (1.0 if half else 2.0)
    delta = err * outs[-1] * (1 - outs[-1])
    db, dW = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        db[l] = delta
        dW[l] = delta @ outs[l].T
        if l:
            delta = (weights[l].T @ delta) * outs[l] * (1 - outs[l])
    return db, dW


# --------------------------------------------------------------------------- style 2: a course's column batch


def course_gradients(params, X, Y):
    """X (n0, N), Y (1, N); tanh hidden, sigmoid output, mean binary cross-entropy; grads keyed dW1, db1, ..."""
    Z1 = params["W1"] @ X + params["b1"]
    A1 = np.tanh(Z1)
    A2 = sigmoid(params["W2"] @ A1 + params["b2"])
    N = X.shape[1]
    dZ2 = A2 - Y
    dZ1 = (params["W2"].T @ dZ2) * (1 - A1**2)
    return {
        "dW2": dZ2 @ A1.T / N,
        "db2": dZ2.sum(axis=1, keepdims=True) / N,
        "dW1": dZ1 @ X.T / N,
        "db1": dZ1.sum(axis=1, keepdims=True) / N,
    }


# --------------------------------------------------------------------------- style 3: X @ W with integer labels


def xw_loss_and_grads(params, X, y):
    """X (N, D) @ W1 (D, H): ReLU, softmax cross-entropy averaged over N, integer labels y (N,)."""
    hidden = np.maximum(0.0, X @ params["W1"] + params["b1"])
    scores = hidden @ params["W2"] + params["b2"]
    scores = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    N = X.shape[0]
    loss = -np.log(probs[np.arange(N), y]).mean()
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1.0
    dscores /= N
    grads = {"W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
    dhidden = dscores @ params["W2"].T
    dhidden[hidden <= 0] = 0.0
    grads["W1"] = X.T @ dhidden
    grads["b1"] = dhidden.sum(axis=0)
    return loss, grads


# --------------------------------------------------------------------------- style 4: a per-sample loop over flat vectors


def loop_gradient(W, b, x, y, per_output=None):
    """One sample, flat vectors, explicit loops: tanh hidden layer, identity output, the sample's term
    c sum_k (a_k - y_k)^2 with c = 1/m (a mean over the outputs, the default) or ``per_output``."""
    n_hidden, n_in = W[0].shape
    n_out = W[1].shape[0]
    h = [np.tanh(sum(W[0][j, k] * x[k] for k in range(n_in)) + b[0][j]) for j in range(n_hidden)]
    out = [sum(W[1][i, j] * h[j] for j in range(n_hidden)) + b[1][i] for i in range(n_out)]
    c = 1.0 / n_out if per_output is None else per_output
    d_out = [2.0 * c * (out[i] - y[i]) for i in range(n_out)]
    d_h = [sum(W[1][i, j] * d_out[i] for i in range(n_out)) * (1 - h[j] ** 2) for j in range(n_hidden)]
    gW = [
        np.array([[d_h[j] * x[k] for k in range(n_in)] for j in range(n_hidden)]),
        np.array([[d_out[i] * h[j] for j in range(n_hidden)] for i in range(n_out)]),
    ]
    return gW, [np.array(d_h), np.array(d_out)]


def rng_values(net: Network, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.7, s) for s in net.weight_shapes()], [rng.normal(0, 0.3, s[0]) for s in net.weight_shapes()]


# --------------------------------------------------------------------------- each layout, three lines of glue at most


def test_per_sample_columns_with_bw_order():
    net = Network([3, 4, 2], hidden="sigmoid", output="sigmoid", loss="quadratic")
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))]
    biases = [rng.normal(size=(4, 1)), rng.normal(size=(2, 1))]
    X, Y = rng.normal(size=(6, 3)), rng.uniform(size=(6, 2))
    # glue: the layout (one line) and the call (one line)
    layout = Layout(samples="each_column", bias="column", order="bw")
    report = symprop.verify(column_backprop, net, (weights, biases), X, Y, layout=layout)
    assert report.ok, report.failure_message()
    wrong = symprop.verify(
        lambda W, b, x, y: column_backprop(W, b, x, y, half=False), net, (weights, biases), X, Y, layout=layout
    )
    assert not wrong and wrong.diagnoses[0].id == "scale" and "c = 2" in wrong.diagnoses[0].message


def test_course_column_batch_with_a_dict_of_layer_arrays():
    net = Network([2, 3, 1], hidden="tanh", output="sigmoid", loss="bce")
    rng = np.random.default_rng(2)
    params = {
        "W1": rng.normal(size=(3, 2)),
        "b1": np.zeros((3, 1)),
        "W2": rng.normal(size=(1, 3)),
        "b2": np.zeros((1, 1)),
    }
    X, Y = rng.normal(size=(2, 8)), (rng.uniform(size=(1, 8)) > 0.5).astype(float)
    # glue: two lines
    fn = lambda W, b, X, Y: course_gradients({"W1": W[0], "b1": b[0], "W2": W[1], "b2": b[1]}, X, Y)  # noqa: E731
    report = symprop.verify(fn, net, params, X, Y, layout="samples=columns,bias=column")
    assert report.ok, report.failure_message()
    assert report.layout == Layout(samples="columns", bias="column") and "layout samples=columns" in report.header()


def test_x_at_w_with_integer_labels_and_a_dict():
    net = Network([4, 5, 3], hidden="relu", output="softmax", loss="cross_entropy")
    rng = np.random.default_rng(3)
    params = {
        "W1": rng.normal(size=(4, 5)),
        "b1": rng.normal(size=5),
        "W2": rng.normal(size=(5, 3)),
        "b2": rng.normal(size=3),
    }
    X, y = rng.normal(size=(9, 4)), rng.integers(0, 3, size=9)
    # glue: two lines
    fn = lambda W, b, X, y: xw_loss_and_grads({"W1": W[0], "b1": b[0], "W2": W[1], "b2": b[1]}, X, y)[1]  # noqa: E731
    report = symprop.verify(fn, net, params, X, y, layout=Layout(weights="in_out"))
    assert report.ok, report.failure_message()

    def forgets_the_mean(W, b, X, y):
        grads = fn(W, b, X, y)
        return {k: v * X.shape[0] for k, v in grads.items()}

    wrong = symprop.verify(forgets_the_mean, net, params, X, y, layout=Layout(weights="in_out"))
    assert wrong.diagnoses[0].id == "scale" and "c = N" in wrong.diagnoses[0].message


def test_per_sample_flat_vectors_combined_by_the_loss_reduction():
    """A sample's term is the loss on that sample alone: (1/m) sum_k under "mean", sum_k under "sum" and
    "batchmean"; symprop sums the terms and divides by N where the reduction does."""
    for reduction, per_output in ((None, None), ("mean", None), ("sum", 1.0), ("batchmean", 1.0)):
        net = Network([3, 4, 2], hidden="tanh", output="identity", loss="mse", reduction=reduction)
        values = rng_values(net)
        rng = np.random.default_rng(4)
        X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
        fn = lambda W, b, x, y: loop_gradient(W, b, x, y, per_output)  # noqa: E731
        report = symprop.verify(fn, net, values, X, Y, layout=Layout(samples="each"))
        assert report.ok, (reduction, report.failure_message())
        if reduction == "batchmean":  # forgetting that batchmean does not average over the outputs
            wrong = symprop.verify(loop_gradient, net, values, X, Y, layout=Layout(samples="each"))
            assert wrong.diagnoses[0].id == "scale" and "c = 1/m" in wrong.diagnoses[0].message


def test_columns_in_out_and_row_biases_round_trip():
    """One network in every combination of layouts: the same exact gradient, and the candidate passes each."""
    net = Network([3, 2, 2], hidden="softplus", output="sigmoid", loss="mse")
    W, b = rng_values(net, 5)
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(4, 3)), rng.uniform(size=(4, 2))
    base = symprop.verify(
        lambda W_, b_, X_, Y_: symprop.reference.backprop_arrays(net, W_, b_, X_, Y_), net, (W, b), X, Y
    )
    for samples in ("rows", "columns"):
        for weights in ("out_in", "in_out"):
            for bias in ("flat", "column", "row"):
                for order in ("wb", "bw"):
                    lay = Layout(samples, weights, bias, order)

                    def cand(Wl, bl, Xl, Yl):
                        Wo = [w.T if weights == "in_out" else w for w in Wl]
                        bo = [v.reshape(-1) for v in bl]
                        Xo, Yo = (Xl.T, Yl.T) if samples == "columns" else (Xl, Yl)
                        gw, gb = symprop.reference.backprop_arrays(net, Wo, bo, Xo, Yo)
                        gw = [g.T if weights == "in_out" else g for g in gw]
                        gb = [lay.bias_out(g) for g in gb]
                        return (gw, gb) if order == "wb" else (gb, gw)

                    vals = ([lay.weights_out(w) for w in W], [lay.bias_out(v) for v in b])
                    vals = vals if order == "wb" else vals[::-1]
                    Xl, Yl = (X.T, Y.T) if samples == "columns" else (X, Y)
                    report = symprop.verify(cand, net, vals, Xl, Yl, layout=lay)
                    assert report.ok, (lay, report.problems)
                    assert [r.expected for r in report.rows] == [r.expected for r in base.rows]


# --------------------------------------------------------------------------- shape mistakes: one clear problem


@pytest.fixture
def small():
    net = Network([3, 4, 2], hidden="tanh", output="sigmoid", loss="mse")
    W, b = rng_values(net, 6)
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    good = lambda W_, b_, X_, Y_: symprop.reference.backprop_arrays(net, W_, b_, X_, Y_)  # noqa: E731
    return net, (W, b), X, Y, good


def test_b_w_order_swapped_is_one_problem_and_values_still_compared(small):
    net, values, X, Y, good = small
    report = symprop.verify(lambda *a: good(*a)[::-1], net, values, X, Y)
    assert not report and len(report.problems) == 1
    assert "(b, w) order swapped" in report.problems[0] and "order=bw" in report.problems[0]
    assert not report.failures and all(r.status == "ok" for r in report.rows)  # no "missing" rows
    assert report.diagnoses[0].id == "swapped_pair"


def test_all_weights_transposed_is_one_problem_with_the_layout_hint(small):
    net, values, X, Y, good = small
    report = symprop.verify(lambda *a: ([g.T for g in good(*a)[0]], good(*a)[1]), net, values, X, Y)
    assert len(report.problems) == 1 and "weights=in_out" in report.problems[0]
    assert report.diagnoses[0].id == "transposed"


def test_forgotten_reshape_and_per_sample_bias_hints(small):
    net, values, X, Y, good = small

    def flat_weights(*a):
        gw, gb = good(*a)
        return [gw[0].reshape(2, 6), gw[1]], gb

    report = symprop.verify(flat_weights, net, values, X, Y)
    assert "expected (4, 3)" in report.problems[0] and "forgotten reshape" in report.problems[0]

    def unsummed(W, b, X_, Y_):
        gw, _ = good(W, b, X_, Y_)
        return gw, [np.ones((X_.shape[0], 4)), np.ones((X_.shape[0], 2))]

    report = symprop.verify(unsummed, net, values, X, Y)
    assert "sum over the 5 samples" in report.problems[0]


def test_a_broadcast_error_inside_the_candidate_names_the_layout_and_shapes(small):
    net, values, X, Y, _ = small

    def expects_columns(W, b, X_, Y_):
        return [W[0] @ X_ + b[0]], []  # X_ is (N, n0) in the default layout: a shape error

    report = symprop.verify(expects_columns, net, values, X, Y)
    assert not report and report.crash is not None
    assert "expects_columns() raised ValueError" in report.crash and "test_layouts.py:" in report.crash
    assert "layout samples=rows, weights=out_in, bias=flat, order=wb" in report.crash
    assert "weights (4, 3), (2, 4); biases (4,), (2,); X (5, 3); Y (5, 2)" in report.crash
    assert "pass layout=symprop.Layout" in report.crash
    with pytest.raises(AssertionError, match="expects_columns"):
        symprop.assert_gradients_match(expects_columns, net, values, X, Y)


def test_system_exit_in_the_candidate_is_a_failure_not_an_exit(small):
    net, values, X, Y, _ = small

    def quits(*a):
        sys.exit(3)

    report = symprop.verify(quits, net, values, X, Y)
    assert not report and "exited (SystemExit(3))" in report.crash


# --------------------------------------------------------------------------- strict candidates


@pytest.mark.parametrize(
    "make, dtype_text",
    [
        (lambda g: g + 5j, "complex128 (complex)"),
        (lambda g: g.astype(str), "<U"),
        (lambda g: g > 0, "bool (boolean)"),
        (lambda g: np.round(g * 1000).astype(np.int64), "int64 (integer)"),
        (lambda g: g.astype(object), "object (object)"),
    ],
)
def test_only_real_floating_results_are_accepted(small, make, dtype_text):
    net, values, X, Y, good = small

    def bad(*a):
        gw, gb = good(*a)
        return [gw[0], make(gw[1])], gb

    report = symprop.verify(bad, net, values, X, Y)
    assert not report
    assert any("grad_weights[1] has dtype" in p and dtype_text in p for p in report.problems), report.problems
    assert {r.status for r in report.rows if r.name.startswith("w2")} == {"missing"}


def test_dict_results_must_be_real_floats_too(small):
    net, values, X, Y, good = small
    grads = net.values_from_arrays(*good(*values, X, Y))
    grads["b2_1"] = complex(grads["b2_1"], 5)
    grads["b2_2"] = 1
    report = symprop.verify(grads, net, values, X, Y)
    assert any('"b2_1" must be a real floating-point number, got a complex' in p for p in report.problems)
    assert any('"b2_2" must be a real floating-point number, got an int' in p for p in report.problems)


def test_float16_is_reported_as_float16():
    net = Network([3, 4, 2], hidden="tanh", output="identity", loss="sse")
    values = rng_values(net, 9)
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(5, 3)), 3 + rng.normal(size=(5, 2))  # well-conditioned: a - y far from 0
    good = lambda W_, b_, X_, Y_: symprop.reference.backprop_arrays(net, W_, b_, X_, Y_)  # noqa: E731
    computed16 = symprop.verify(good, net, values, X, Y, dtype="float16")  # runs in float16 throughout
    assert computed16.ok and computed16.dtype == "float16"
    as16 = lambda *a: tuple([g.astype(np.float16) for g in part] for part in good(*a))  # noqa: E731
    report = symprop.verify(as16, net, values, X, Y)
    assert report.dtype == "float16" and report.ok, report.failure_message()
    assert not symprop.verify(as16, net, values, X, Y, dtype="float64")
    worse = lambda *a: tuple([(g * 1.02).astype(np.float16) for g in part] for part in good(*a))  # noqa: E731
    assert not symprop.verify(worse, net, values, X, Y)


# --------------------------------------------------------------------------- parsing and the other front ends


def test_layout_parsing_and_errors():
    assert Layout.parse("samples=columns, weights=in_out") == Layout(samples="columns", weights="in_out")
    assert Layout.parse({"order": "bw"}) == Layout(order="bw") and Layout.parse(None) == Layout()
    with pytest.raises(
        ValueError, match=r'samples must be one of rows, columns, each, each_column, got .colums.*"columns"'
    ):
        Layout.parse("samples=colums")
    with pytest.raises(ValueError, match=r"unknown key 'weight'.*\"weights\""):
        Layout.parse({"weight": "in_out"})
    with pytest.raises(ValueError, match="KEY=VALUE"):
        Layout.parse("columns")


def test_values_and_data_in_the_layout_get_clear_shape_errors(small):
    net, (W, b), X, Y, good = small
    with pytest.raises(
        ValueError, match=r"weights\[0\] has shape \(4, 3\), expected \(3, 4\) in layout .*weights=in_out.*transposed"
    ):
        symprop.verify(good, net, (W, b), X, Y, layout=Layout(weights="in_out"))
    with pytest.raises(ValueError, match=r"X has shape \(5, 3\), expected \(3, N\) in layout samples=columns.*rows"):
        symprop.verify(good, net, (W, b), X, Y, layout="samples=columns")
    with pytest.raises(ValueError, match="missing b2"):
        symprop.verify(good, net, {"W1": W[0], "b1": b[0], "W2": W[1]}, X, Y)


def test_pytest_fixture_takes_a_layout():
    net = Network([3, 4, 2], hidden="sigmoid", output="sigmoid", loss="quadratic")
    W, b = rng_values(net, 8)
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(3, 3)), rng.uniform(size=(3, 2))
    check = GradientCheck([], "test_id")
    report = check(
        column_backprop,
        net,
        ([w for w in W], [v[:, None] for v in b]),
        X,
        Y,
        layout=Layout(samples="each_column", bias="column", order="bw"),
    )
    assert report.ok and check.reports == [report]


CLI_CANDIDATE = '''
import numpy as np

def sig(z):
    return 1 / (1 + np.exp(-z))

def columns(weights, biases, X, Y):
    """X (n0, N) @ columns, in_out weights: z = W^T a."""
    A, As = X, [X]
    for W, b in zip(weights, biases):
        A = sig(W.T @ A + b[:, None])
        As.append(A)
    N = X.shape[1]
    d = (As[-1] - Y) / N * As[-1] * (1 - As[-1])
    gW, gb = [None, None], [None, None]
    for l in (1, 0):
        gW[l] = (d @ As[l].T).T
        gb[l] = d.sum(axis=1)
        d = (weights[l] @ d) * As[l] * (1 - As[l])
    return gW, gb
'''

PROBLEM = """
[network]
layers = [2, 3, 2]
hidden = "sigmoid"
output = "sigmoid"
loss = "quadratic"
[data]
x = [[0.1, 0.2], [0.5, -0.3], [1.0, 0.7]]
y = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]
[values]
init = "normal"
seed = 3
"""


def test_cli_layout_option_and_problem_file_table(tmp_path: Path, capsys, monkeypatch):
    from symprop import cli

    (tmp_path / "colgrad.py").write_text(CLI_CANDIDATE, encoding="utf-8")
    (tmp_path / "p.toml").write_text(PROBLEM, encoding="utf-8")
    (tmp_path / "q.toml").write_text(PROBLEM + '[layout]\nsamples = "columns"\nweights = "in_out"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert cli.main(["verify", "p.toml", "colgrad:columns", "--layout", "samples=columns,weights=in_out"]) == 0
    assert "ok: 0 / 17" in capsys.readouterr().out
    assert cli.main(["verify", "q.toml", "colgrad:columns"]) == 0
    capsys.readouterr()
    assert cli.main(["verify", "p.toml", "colgrad:columns"]) == 1  # the default layout does not fit
    out, err = capsys.readouterr()
    assert "colgrad:columns raised ValueError" in err and "layout samples=rows" in err
    assert cli.main(["verify", "p.toml", "colgrad:columns", "--layout", "samples=colums"]) == 2
    assert 'Did you mean "columns"' in capsys.readouterr().err
    (tmp_path / "r.toml").write_text(PROBLEM + '[layout]\nsample = "columns"\n', encoding="utf-8")
    assert cli.main(["verify", "r.toml", "colgrad:columns"]) == 2
    assert "[layout] unknown key 'sample'" in capsys.readouterr().err


def test_cli_candidate_system_exit_and_complex_results_fail_loudly(tmp_path: Path, capsys, monkeypatch):
    """Issue 12: a candidate's SystemExit no longer ends symprop silently; +5j is not 'ok'."""
    from symprop import cli

    (tmp_path / "odd.py").write_text(
        CLI_CANDIDATE
        + """
import sys

def quits(weights, biases, X, Y):
    sys.exit(7)

def complex_result(weights, biases, X, Y):
    gW, gb = columns([w.T for w in weights], biases, X.T, Y.T)
    return [g.T + 5j for g in gW], gb
""",
        encoding="utf-8",
    )
    (tmp_path / "p.toml").write_text(PROBLEM, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert cli.main(["verify", "p.toml", "odd:quits"]) == 1
    out, err = capsys.readouterr()
    assert "exited (SystemExit(7))" in err and "FAILED" in out
    assert cli.main(["verify", "p.toml", "odd:complex_result"]) == 1
    out, _ = capsys.readouterr()
    assert "grad_weights[0] has dtype complex128 (complex)" in out and "ok:" not in out


def test_per_layer_pairs_and_flat_lists_are_read_when_only_they_fit(small):
    net, values, X, Y, good = small
    per_layer = lambda *a: list(zip(*good(*a)))  # noqa: E731  [(dW1, db1), (dW2, db2)]
    flat = lambda *a: [g for pair in zip(*good(*a)) for g in pair]  # noqa: E731  [dW1, db1, dW2, db2]
    assert symprop.verify(per_layer, net, values, X, Y).ok
    assert symprop.verify(flat, net, values, X, Y).ok
    bw = lambda *a: [(b, w) for w, b in zip(*good(*a))]  # noqa: E731
    assert symprop.verify(bw, net, values, X, Y, layout="order=bw").ok
    one = Network([3, 2], output="identity", loss="sse")  # one layer: [dW, db] as plain arrays
    W, b = rng_values(one, 1)
    assert symprop.verify(
        lambda *a: [g[0] for g in symprop.reference.backprop_arrays(one, *a)], one, (W, b), X, Y[:, :2]
    ).ok


def test_tied_parameters_and_l2_in_every_layout():
    """Per-entry arrays of a tied bias are summed (the chain rule over its uses); a per-sample candidate's
    terms leave out the l2 penalty, which symprop adds once."""
    plain = Network([3, 4, 4, 2], hidden="tanh", output="identity", loss="mse")
    net = Network([3, 4, 4, 2], hidden="tanh", output="identity", loss="mse", l2=0.05, tie={"bh": ["b1_1", "b2_1"]})
    W, b = rng_values(net, 11)
    b[1][0] = b[0][0]
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))

    def batch(W_, b_, X_, Y_):  # the textbook gradient of every entry, plus 2 lam W
        gw, gb = symprop.reference.backprop_arrays(plain, W_, b_, X_, Y_)
        return [g + 2 * 0.05 * w for g, w in zip(gw, W_)], gb

    report = symprop.verify(batch, net, (W, b), X, Y)
    assert report.ok, report.failure_message()
    expected = symprop.reference.backprop(net, (W, b), X, Y)["bh"]  # independent: reference sums the uses
    assert report["bh"].expected == pytest.approx(expected, rel=1e-12)

    def per_sample(W_, b_, x, y):  # one sample's data term only
        return symprop.reference.backprop_arrays(plain, W_, b_, x[None, :], y[None, :])

    assert symprop.verify(per_sample, net, (W, b), X, Y, layout="samples=each").ok
    forgot = symprop.verify(lambda *a: symprop.reference.backprop_arrays(plain, *a), net, (W, b), X, Y)
    assert forgot.diagnoses[0].id == "l2" and "missing" in forgot.diagnoses[0].message
