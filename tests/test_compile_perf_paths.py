"""The fast paths of the compiled program: in-place ufunc code, the reused workspace, threads, closed forms unused."""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from helpers import random_targets
from hypothesis import given, settings
from hypothesis import strategies as st

from symprop import Network, activations
from symprop.chainrule import evaluate
from symprop.compile import M_SYM, N_SYM, CompiledNetwork, _into, generate_source
from symprop.reference import backprop_arrays, loss_value
from symprop.reference import forward as reference_forward

A, Z, Y = (sp.Symbol(s, real=True) for s in ("A", "Z", "Y"))


def run_into(expr: sp.Expr, arrays: dict[str, np.ndarray], n: int = 4, m: int = 3) -> np.ndarray:
    """Execute the in-place lines for ``expr`` into a fresh buffer and return the buffer."""
    lines = _into(expr, "OUT")
    assert lines is not None, f"no in-place form for {expr}"
    assert all("out=OUT" in line for line in lines), lines  # every step writes the buffer, none allocates it
    namespace = {"numpy": np, "OUT": np.full((n, m), np.nan), "N": n, "m": m, **arrays}
    exec("\n".join(lines), namespace)
    return namespace["OUT"]


def sympy_value(expr: sp.Expr, arrays: dict[str, np.ndarray], n: int = 4, m: int = 3) -> np.ndarray:
    """Oracle: SymPy evaluates the expression entry by entry at 30 digits."""
    shape = next(iter(arrays.values())).shape
    out = np.empty(shape)
    for idx in np.ndindex(shape):
        sub = {sp.Symbol(k, real=True): sp.Float(float(v[idx]), 30) for k, v in arrays.items()}
        sub.update({N_SYM: n, M_SYM: m})
        out[idx] = float(expr.xreplace(sub).evalf(30))
    return out


@pytest.mark.parametrize(
    "expr",
    [
        1 - A**2,  # tanh'
        A * (1 - A),  # sigmoid'
        -A - Y,  # every term negated
        2 * (A - Y) / (N_SYM * M_SYM),  # the scaled MSE output delta
        (A - Y) / Z,  # a denominator
        3 - Z + A * Y - 2 * A,  # mixed signs and a leading scalar
        sp.sqrt(Z**2 + 1) + Z**3 - 1 / (1 + A**2),
        sp.exp(-Z) * sp.tanh(A) - sp.log(1 + Z**2),
        activations.Sigmoid(Z) * (1 - activations.Sigmoid(Z)),
        activations.Softplus(Z - A),
        activations.ReLU(Z) + sp.Heaviside(Z, 0) * A,
        sp.Heaviside(Z, 1) - A / 7,
    ],
    ids=str,
)
def test_in_place_code_equals_sympy_value(expr):
    rng = np.random.default_rng(3)
    arrays = {
        "A": rng.uniform(-0.9, 0.9, (4, 3)),
        "Z": rng.uniform(0.2, 2.0, (4, 3)) * rng.choice([-1, 1], (4, 3)),
        "Y": rng.normal(size=(4, 3)),
    }
    if expr.has(sp.Heaviside):  # these do not divide by Z, so Z = 0 can test the step's value at 0
        arrays["Z"][0, 0] = 0.0
    np.testing.assert_allclose(run_into(expr, arrays), sympy_value(expr, arrays), rtol=1e-14, atol=1e-15)


def test_heaviside_convention_at_zero_in_place():
    arrays = {"Z": np.array([[-1.0, 0.0, 2.0]])}
    assert run_into(sp.Heaviside(Z, 0) + 0 * Z, arrays, 1, 3).tolist() == [[0.0, 0.0, 1.0]]
    assert run_into(sp.Heaviside(Z, 1), arrays, 1, 3).tolist() == [[0.0, 1.0, 1.0]]


def test_bare_operands_and_piecewise_have_no_in_place_form():
    assert _into(A, "OUT") is None
    assert _into(N_SYM * M_SYM, "OUT") is None  # scalars stay Python numbers
    assert _into(sp.Piecewise((1, Z > 0), (A + 1, True)), "OUT") is None  # printed with numpy.where instead


# --------------------------------------------------------------------------- whole programs

NETS = [
    Network([3, 5, 4, 2], hidden="tanh", output="identity", loss="mse"),
    Network([2, 4, 4, 3], hidden="sigmoid", output="sigmoid", loss="bce"),
    Network([2, 4, 3, 3], hidden="relu", output="softmax", loss="cross_entropy"),
    Network([2, 3, 3, 2], hidden="silu", output="softplus", loss="quadratic"),
    Network([2, 3, 3, 2], hidden="elu(0.5)", output="tanh", loss="sse"),
    Network([2, 4, 2], hidden="softplus", output="silu", loss="mse"),
    Network([3, 4, 3], hidden="leaky_relu(0.1)", output="softmax", loss="mse"),
]


def problem(net: Network, n: int, seed: int):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s) for s in net.weight_shapes()]
    biases = [rng.normal(size=s[0]) for s in net.weight_shapes()]
    X = rng.normal(size=(n, net.n_inputs))
    Y = random_targets(net, n, rng)
    return weights, biases, X, Y


def rel_err(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    a = np.concatenate([np.ravel(x) for x in actual])
    e = np.concatenate([np.ravel(x) for x in expected])
    return float(np.max(np.abs(a - e)) / max(np.max(np.abs(e)), 1e-300))  # 0 when both are all zero


@pytest.mark.parametrize("net", NETS, ids=repr)
def test_three_layer_programs_match_the_exact_symbolic_gradient(net):
    """Two hidden layers exercise every in-place path; the oracle is the closed form at 30 digits.

    Three samples, in one block (the default) and in blocks of 2 rows (a full block, then a short one).
    """
    weights, biases, X, Y = problem(net, 3, 11)
    values = net.values_from_arrays(weights, biases)
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    Yf = [[Fraction(float(v)) for v in row] for row in Y]
    exact = {name: float(evaluate(net, g, values, 30)) for name, g in net.gradient(Xf, Yf).items()}
    scale = max(abs(v) for v in exact.values())
    for program in (CompiledNetwork(net), CompiledNetwork(net, block_rows=2)):
        got = program.gradient(values, X, Y)
        for name, e in exact.items():
            assert abs(got[name] - e) <= 1e-12 * (abs(e) + 1e-3 * scale), (name, got[name], e, program.block_rows)


@pytest.mark.parametrize("net", NETS, ids=repr)
def test_large_batch_matches_reference_backprop(net):
    weights, biases, X, Y = problem(net, 3000, 5)
    compiled = CompiledNetwork(net)
    dW, db = compiled.gradient_arrays(weights, biases, X, Y)
    rW, rb = backprop_arrays(net, weights, biases, X, Y)
    assert rel_err(dW + db, rW + rb) < 1e-12
    np.testing.assert_allclose(
        compiled.forward_arrays(weights, biases, X),
        reference_forward(net, weights, biases, X)[1][-1],
        rtol=1e-13,
        atol=1e-15,
    )


@pytest.mark.parametrize("net", NETS[:4], ids=repr)
def test_results_never_alias_the_workspace(net):
    """A second call with the same N reuses the work arrays but must not change earlier results."""
    compiled = CompiledNetwork(net)
    w1, b1, X1, Y1 = problem(net, 50, 1)
    w2, b2, X2, Y2 = problem(net, 50, 2)
    out1 = compiled.forward_arrays(w1, b1, X1)
    dW1, db1 = compiled.gradient_arrays(w1, b1, X1, Y1)
    loss1 = compiled.loss_arrays(w1, b1, X1, Y1)
    saved = [x.copy() for x in [out1, *dW1, *db1]]
    compiled.forward_arrays(w2, b2, X2)
    compiled.gradient_arrays(w2, b2, X2, Y2)
    compiled.loss_arrays(w2, b2, X2, Y2)
    for before, now in zip(saved, [out1, *dW1, *db1]):
        np.testing.assert_array_equal(before, now)
    assert loss1 == compiled.loss_arrays(w1, b1, X1, Y1)
    X1_copy = X1.copy()
    compiled.gradient_arrays(w1, b1, X1, Y1)
    np.testing.assert_array_equal(X1, X1_copy)  # inputs are read, never written


@pytest.mark.parametrize("net", NETS, ids=repr)
@pytest.mark.parametrize("block", [1, 7, 64])
def test_blocks_of_rows_give_the_same_loss_forward_and_gradient(net, block):
    """300 samples in blocks of 1, 7 (a shorter last block) or 64 rows: sums over blocks match the reference."""
    weights, biases, X, Y = problem(net, 300, block)
    program = CompiledNetwork(net, block_rows=block)
    assert program._workspace()["_ones"].shape == (block,)
    rW, rb = backprop_arrays(net, weights, biases, X, Y)
    loss, grads = program.loss_and_gradient(net.values_from_arrays(weights, biases), X, Y)
    dW, db = program.gradient_arrays(weights, biases, X, Y)
    assert rel_err(dW + db, rW + rb) < 1e-12
    assert grads == net.values_from_arrays(dW, db)
    reference_loss = loss_value(net, net.values_from_arrays(weights, biases), X, Y)  # plain NumPy, whole batch
    assert loss == pytest.approx(reference_loss, rel=1e-12)
    assert program.loss_arrays(weights, biases, X, Y) == pytest.approx(reference_loss, rel=1e-12)
    np.testing.assert_allclose(
        program.forward_arrays(weights, biases, X),
        reference_forward(net, weights, biases, X)[1][-1],
        rtol=1e-13,
        atol=1e-15,
    )


def test_workspace_size_does_not_depend_on_the_batch():
    net = Network([3, 40, 2], hidden="tanh")
    program = CompiledNetwork(net)
    assert program.block_rows == 32_768 // 40
    weights, biases, X, Y = problem(net, 20_000, 4)
    program.gradient_arrays(weights, biases, X, Y)
    rows = {name: a.shape[0] for name, a in program._workspace().items() if name.startswith(("Z", "D", "F", "_"))}
    assert set(rows.values()) == {program.block_rows}, rows


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_block_rows_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="block_rows must be a positive integer"):
        CompiledNetwork(NETS[0], block_rows=bad)


def test_changing_batch_size_and_releasing_the_workspace():
    net = NETS[0]
    compiled = CompiledNetwork(net)
    for n in (7, 300, 7, 1):
        weights, biases, X, Y = problem(net, n, n)
        dW, db = compiled.gradient_arrays(weights, biases, X, Y)
        rW, rb = backprop_arrays(net, weights, biases, X, Y)
        assert rel_err(dW + db, rW + rb) < 1e-12, n
    compiled.release_workspace()
    weights, biases, X, Y = problem(net, 7, 0)
    rW, rb = backprop_arrays(net, weights, biases, X, Y)
    dW, db = compiled.gradient_arrays(weights, biases, X, Y)
    assert rel_err(dW + db, rW + rb) < 1e-12


def test_threads_get_their_own_workspace():
    net = NETS[1]
    compiled = CompiledNetwork(net)
    problems = [problem(net, 400, seed) for seed in range(6)]
    expected = [backprop_arrays(net, *p) for p in problems]
    errors: list[float] = []
    barrier = threading.Barrier(len(problems))

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(20):
            dW, db = compiled.gradient_arrays(*problems[i], check=False)
            errors.append(rel_err(dW + db, expected[i][0] + expected[i][1]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 20 * len(problems)
    assert max(errors) < 1e-12


def test_program_without_workspace_argument_still_works():
    net = NETS[0]
    compiled = CompiledNetwork(net)
    weights, biases, X, Y = problem(net, 20, 3)
    loss, dW, db = compiled._gradient(weights, biases, X, Y, True)
    rW, rb = backprop_arrays(net, weights, biases, X, Y)
    assert rel_err(dW + db, rW + rb) < 1e-12
    assert loss == pytest.approx(compiled.loss_arrays(weights, biases, X, Y), rel=1e-14)


def test_tanh_program_is_in_place_and_keeps_the_four_equations():
    source = generate_source(Network([4, 8, 8, 2], hidden="tanh"))
    grad = source.split("def _gradient")[1]
    assert "numpy.tanh(Z1, out=Z1)" in grad  # a = tanh(z) overwrites z: f'(z) = 1 - a^2 needs no z
    assert "numpy.multiply(A2, A2, out=F2)" in grad and "D2 *= F2" in grad
    # the four equations as matrix products into work arrays; dW and db sum over the blocks of samples
    assert "D2 = numpy.matmul(D3, W[2], out=_ws['D2'])" in grad
    assert "dW[1] += numpy.matmul(D2.T, A1, out=_ws['gW1'])" in grad
    assert "db[1] += numpy.matmul(_ones, D2, out=_ws['gb1'])" in grad
    backward = grad.split("_ones = _ws['_ones']")[1]
    assert "**" not in backward and " @ " not in backward  # the backward pass allocates no temporaries


def test_relu_keeps_z_for_its_derivative():
    grad = generate_source(Network([2, 3, 3, 1], hidden="relu")).split("def _gradient")[1]
    assert "numpy.maximum(Z1, 0.0, out=A1)" in grad  # a gets its own array ...
    assert "numpy.greater(Z1, 0.0, out=F1)" in grad  # ... because relu'(z) = [z > 0] reads z


# --------------------------------------------------------------------------- closed forms are never needed


def test_compiling_never_builds_closed_forms(monkeypatch):
    """The compiled path must not call the expanded-expression machinery (it would explode on big nets)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the compiled path built a closed form")

    import symprop.chainrule
    import symprop.graph

    for module, name in [
        (symprop.graph, "forward_sample"),
        (symprop.graph, "loss_expr"),
        (symprop.graph, "forward"),
        (symprop.chainrule, "gradient"),
        (symprop.chainrule, "reverse_sample"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    net = Network([16, 64, 64, 8], hidden="tanh", output="identity", loss="mse")
    compiled = CompiledNetwork(net)
    weights, biases, X, Y = problem(net, 64, 9)
    dW, db = compiled.gradient_arrays(weights, biases, X, Y)
    rW, rb = backprop_arrays(net, weights, biases, X, Y)
    assert rel_err(dW + db, rW + rb) < 1e-12
    assert compiled.source.count("\n") < 150  # O(layers) lines, not O(parameters)


def test_program_size_does_not_grow_with_width():
    narrow = generate_source(Network([2, 3, 3, 1], hidden="tanh"))
    wide = generate_source(Network([64, 256, 256, 32], hidden="tanh"))
    assert narrow.count("\n") == wide.count("\n")


# --------------------------------------------------------------------------- random networks (property)

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "silu"]
HEADS = [
    ("identity", "mse"),
    ("tanh", "sse"),
    ("sigmoid", "bce"),
    ("softmax", "cross_entropy"),
    ("softmax", "mse"),
    ("silu", "quadratic"),
]


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(
    layers=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    hidden=st.sampled_from(HIDDEN),
    head=st.sampled_from(HEADS),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    block=st.integers(1, 9),
)
def test_random_networks_match_reference_backprop(layers, hidden, head, n, seed, block):
    output, loss = head
    if output == "softmax":
        layers[-1] = max(layers[-1], 2)
    net = Network(layers, hidden=hidden, output=output, loss=loss)
    weights, biases, X, Y = problem(net, n, seed)
    compiled = CompiledNetwork(net)
    blocked = CompiledNetwork(net, block_rows=block)
    rW, rb = backprop_arrays(net, weights, biases, X, Y)
    for _ in range(2):  # the second call runs on the reused workspace
        for program in (compiled, blocked):
            dW, db = program.gradient_arrays(weights, biases, X, Y)
            assert rel_err(dW + db, rW + rb) < 1e-11
    np.testing.assert_allclose(
        blocked.forward_arrays(weights, biases, X),
        reference_forward(net, weights, biases, X)[1][-1],
        rtol=1e-12,
        atol=1e-14,
    )
