"""Problem files: what loads, and the messages for every kind of bad file (file, key and what is valid)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from symprop import reference
from symprop.examples import SEED_002
from symprop.problem import Problem, ProblemError, load_problem

SEED_002_TOML = """\
title = "Seed 002"
[network]
layers = [1, 2, 1]
hidden = "softplus"
output = "identity"
loss = "ssr"
naming = "flat"
[data]
x = [0.0, 0.5, 1.0]
y = [0.0, 1.0, 0.0]
[values]
w1 = 3.34
b1 = -1.43
w2 = -3.53
b2 = 0.57
w3 = -1.22
w4 = -2.30
b3 = 0.0
[train]
params = ["b3"]
lr = 0.1
tol = 0.001
[derive]
param = "b3"
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_002_file_matches_the_built_in_example(tmp_path: Path) -> None:
    problem = load_problem(write(tmp_path, SEED_002_TOML))
    assert isinstance(problem, Problem)
    assert problem.network == SEED_002.network
    assert problem.train == ("b3",) and problem.lr == 0.1 and problem.tol == 0.001 and problem.param == "b3"
    assert problem.fixed == {k: v for k, v in SEED_002.values.items() if k != "b3"}
    np.testing.assert_array_equal(problem.X[:, 0], SEED_002.X)
    # the loss at b3 = 0 by hand: SSR = sum (w3 softplus(w1 x + b1) + w4 softplus(w2 x + b2) - y)^2
    sp = lambda z: np.log1p(np.exp(z))  # noqa: E731
    v = SEED_002.values
    pred = [v["w3"] * sp(v["w1"] * x + v["b1"]) + v["w4"] * sp(v["w2"] * x + v["b2"]) for x in SEED_002.X]
    hand = sum((p - y) ** 2 for p, y in zip(pred, SEED_002.Y))
    assert reference.loss_value(problem.network, problem.values, problem.X, problem.Y) == pytest.approx(hand, rel=1e-12)


def test_csv_data_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dose.csv").write_text("dosage,efficacy,note\n0,0,a\n0.5,1,b\n1,0,c\n", encoding="utf-8")
    text = SEED_002_TOML.replace(
        "x = [0.0, 0.5, 1.0]\ny = [0.0, 1.0, 0.0]",
        'csv = "data/dose.csv"\nx_columns = ["dosage"]\ny_columns = ["efficacy"]',
    )
    problem = load_problem(write(tmp_path, text))
    assert problem.X.tolist() == [[0.0], [0.5], [1.0]] and problem.Y.tolist() == [[0.0], [1.0], [0.0]]


def test_init_zeros_and_normal(tmp_path: Path) -> None:
    base = SEED_002_TOML.split("[values]")[0]
    zeros = load_problem(write(tmp_path, base + '[values]\ninit = "zeros"\nb3 = 0.5\n'))
    assert zeros.values == {"w1": 0.0, "w2": 0.0, "b1": 0.0, "b2": 0.0, "w3": 0.0, "w4": 0.0, "b3": 0.5}
    normal = load_problem(write(tmp_path, base + '[values]\ninit = "normal"\nseed = 7\nstd = 0.5\n'))
    expected = np.random.default_rng(7).normal(0.0, 0.5, size=7)
    assert list(normal.values.values()) == pytest.approx(list(expected), rel=0, abs=0)


def test_exact_decimal_values_are_kept_as_written(tmp_path: Path) -> None:
    problem = load_problem(write(tmp_path, SEED_002_TOML))
    assert Fraction(repr(problem.values["w1"])) == Fraction(334, 100)


BAD = [
    # (replace this, with that, message fragments)
    ('title = "Seed 002"', 'title = "Seed 002"\nepochs = 3', ["unknown key 'epochs'", "valid top-level keys", "title"]),
    (
        'naming = "flat"',
        'naming = "flat"\nactivation = "tanh"',
        ["[network] unknown key 'activation'", "layers, hidden, output, loss, naming"],
    ),
    ('hidden = "softplus"', 'hidden = "softplsu"', ['unknown activation "softplsu"', 'Did you mean "softplus"']),
    ("w4 = -2.30", "w44 = -2.30", ["[values] unknown key(s) w44", "w1, w2, b1, b2, w3, w4, b3", 'Did you mean "w4"']),
    ("w4 = -2.30", "", ["[values] missing 1 of 7 parameters: w4"]),
    ("w4 = -2.30", 'w4 = "big"', ["[values] w4 must be a number"]),
    ("x = [0.0, 0.5, 1.0]", "x = [[0.0, 1.0], [0.5, 1.0], [1.0, 1.0]]", ["[data]", "expected (N, 1)"]),
    ("y = [0.0, 1.0, 0.0]", "y = [0.0, 1.0]", ["[data]", "X has 3 samples but Y has 2"]),
    ('params = ["b3"]', 'params = ["b33"]', ["[train] params: unknown parameter(s) b33", 'Did you mean "b3"']),
    ('param = "b3"', 'param = "w9"', ["[derive] param: unknown parameter 'w9'", "valid: w1"]),
    ("lr = 0.1", "lr = -1", ["[train] lr must be positive"]),
    ("lr = 0.1", "lr = 0.1\nmax_steps = 0", ["[train] max_steps must be a positive integer"]),
    ("layers = [1, 2, 1]", "layers = [1, 0, 1]", ["[network]", "layers[1] must be a positive integer"]),
]


@pytest.mark.parametrize(("old", "new", "fragments"), BAD, ids=[b[2][0][:40] for b in BAD])
def test_bad_files_name_the_file_key_and_valid_choices(
    tmp_path: Path, old: str, new: str, fragments: list[str]
) -> None:
    assert old in SEED_002_TOML
    path = write(tmp_path, SEED_002_TOML.replace(old, new, 1))
    with pytest.raises(ProblemError) as info:
        load_problem(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_file_bad_toml_and_missing_section(tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match=r"nope\.toml: no such problem file"):
        load_problem(tmp_path / "nope.toml")
    with pytest.raises(ProblemError, match=r"bad\.toml: not valid TOML: .*line 2"):
        load_problem(write(tmp_path, "[network]\nlayers = = 3\n", "bad.toml"))
    with pytest.raises(ProblemError, match=r"missing section \[values\]"):
        load_problem(write(tmp_path, SEED_002_TOML.split("[values]")[0]))
    csv_text = SEED_002_TOML.replace(
        "x = [0.0, 0.5, 1.0]\ny = [0.0, 1.0, 0.0]", 'csv = "d.csv"\nx_columns = ["dose"]\ny_columns = ["efficacy"]'
    )
    (tmp_path / "d.csv").write_text("dosage,efficacy\n0,0\n", encoding="utf-8")
    with pytest.raises(
        ProblemError, match=r"no column 'dose' in its first line \(2 column\(s\)\)\. Did you mean \"dosage\""
    ):
        load_problem(write(tmp_path, csv_text))


def test_a_problem_error_is_a_value_error() -> None:
    assert issubclass(ProblemError, ValueError)


def test_a_mistyped_file_name_or_a_directory_gets_a_hint(tmp_path: Path) -> None:
    write(tmp_path, SEED_002_TOML, "seed002_softplus.toml")
    with pytest.raises(
        ProblemError,
        match=r"seed002_sofplus\.toml: no such problem file \(nor a built-in example: seed002, seed000, seed001\)\. "
        r'Did you mean "seed002_softplus\.toml"\?',
    ):
        load_problem(tmp_path / "seed002_sofplus.toml")
    with pytest.raises(
        ProblemError, match=r"is a directory; give a problem file \(\.toml\) such as .*seed002_softplus\.toml"
    ):
        load_problem(tmp_path)


DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"


@pytest.mark.parametrize(
    "name, file",
    [
        ("seed002", "seed002_softplus_ssr.toml"),
        ("seed000", "seed000_linear_mse.toml"),
        ("seed001", "seed001_sigmoid_quadratic.toml"),
    ],
)
def test_built_in_example_names_load_the_same_problem_as_the_worked_files(name: str, file: str) -> None:
    """``symprop derive seed002`` works without a checkout; it must mean what derivations/ means."""
    built_in, from_file = load_problem(name), load_problem(DERIVATIONS / file)
    assert built_in.network == from_file.network
    np.testing.assert_array_equal(built_in.X, from_file.X)
    np.testing.assert_array_equal(built_in.Y, from_file.Y)
    assert built_in.values == from_file.values
    assert (built_in.train, built_in.lr, built_in.tol) == (from_file.train, from_file.lr, from_file.tol)
    assert built_in.title.startswith(f"{name}: ") and built_in.source is None


def test_a_file_wins_over_a_built_in_name_and_unknown_names_get_a_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seed002").write_text("[network]\nlayers = = 3\n", encoding="utf-8")
    with pytest.raises(ProblemError, match=r"seed002: not valid TOML"):
        load_problem("seed002")
    with pytest.raises(
        ProblemError,
        match=r"seed03: no such problem file \(nor a built-in example: seed002, seed000, "
        r'seed001\)\. Did you mean "seed00[0-3]"\?',
    ):
        load_problem("seed03")


# --------------------------------------------------------------------------- any input: a ProblemError or a problem

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from symprop.problem import problem_from_dict  # noqa: E402

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(
        ["relu", "elu(0.5)", "leaky_relu(-1)", "softmax", "bce", "flat", "b3", "w1", "zeros", "normal", "data.csv"]
    ),
)
_ANY = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=10)
_NETWORK = st.one_of(
    st.fixed_dictionaries(
        {"layers": st.sampled_from([[1, 2, 1], [2, 3, 2], [2, 2]])},
        optional={
            "hidden": st.sampled_from(["relu", "tanh", "elu(0.5)", "softplus"]),
            "output": st.sampled_from(["identity", "sigmoid", "softmax"]),
            "loss": st.sampled_from(["mse", "bce", "cross_entropy", "ssr"]),
            "naming": st.sampled_from(["flat", "default"]),
        },
    ),
    st.dictionaries(st.sampled_from(["layers", "hidden", "output", "loss", "naming", "bogus"]), _ANY, max_size=5),
    _ANY,
)
_RAW = st.fixed_dictionaries(
    {"network": _NETWORK},
    optional={
        "data": st.one_of(
            st.dictionaries(st.sampled_from(["x", "y", "csv", "x_columns", "y_columns"]), _ANY, max_size=4), _ANY
        ),
        "values": st.one_of(
            st.dictionaries(
                st.sampled_from(["w1", "b1", "w2", "b3", "w1_1_1", "b2_1", "init", "seed"]), _ANY, max_size=8
            ),
            _ANY,
        ),
        "train": st.one_of(
            st.dictionaries(st.sampled_from(["params", "lr", "tol", "max_steps"]), _ANY, max_size=4), _ANY
        ),
        "derive": st.dictionaries(st.just("param"), _ANY),
        "title": _ANY,
        "description": _ANY,
    },
)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=_RAW)
def test_any_parsed_file_gives_a_problem_or_a_problem_error(raw):
    """Whatever a TOML file holds, loading it ends in a Problem or a ProblemError naming the file, never a traceback."""
    try:
        problem_from_dict(raw, source=Path("fuzz.toml"))
    except ProblemError as exc:
        assert str(exc).startswith("fuzz.toml: ")
