"""Golden strings for the backprop LaTeX printer and the latexify-py view of the reference code."""

from __future__ import annotations

import latexify
import pytest
import sympy as sp

from symprop import Network, reference, to_latex
from symprop.codeview import BackpropCodegen, render
from symprop.printing import Notation, Num, aligned, format_number

NET = Network([2, 2, 1])
FLAT = Network([1, 2, 1], hidden="softplus", output="identity", loss="ssr", naming="flat")


def test_parameters_print_in_backprop_notation():
    assert to_latex(NET.param("w2_1_2")) == "w^{[2]}_{12}"
    assert to_latex(NET.param("b1_2")) == "b^{[1]}_{2}"
    assert to_latex(FLAT.param("w3")) == "w_{3}"
    assert to_latex(FLAT.param("w3") * FLAT.param("b1")) == "b_{1} w_{3}"


def test_partial_derivatives_use_partial_even_for_one_variable():
    w = FLAT.param("w3")
    assert to_latex(sp.Derivative(w**2, w, evaluate=False)) == r"\frac{\partial}{\partial w_{3}} w_{3}^{2}"
    x, y = sp.symbols("x y")
    assert to_latex(sp.Derivative(x * y, x, y)) == r"\frac{\partial^{2}}{\partial x \partial y} x y"
    assert to_latex(sp.Derivative(x**3, (x, 2))) == r"\frac{\partial^{2}}{\partial x^{2}} x^{3}"


def test_hadamard_is_odot_and_transpose_is_mathsf_t():
    W = sp.MatrixSymbol("W^{[2]}", 1, 2)
    d = sp.MatrixSymbol(r"\delta^{[2]}", 1, 1)
    f = sp.MatrixSymbol("F", 2, 1)
    expr = sp.HadamardProduct(W.T * d, f)
    assert to_latex(expr) == r"\left(W^{[2]}\right)^{\mathsf{T}} \delta^{[2]} \odot F"
    A = sp.MatrixSymbol("A", 2, 2)
    assert to_latex(A.T) == r"A^{\mathsf{T}}"
    assert to_latex((A * A).T) == r"\left(A^{\mathsf{T}}\right)^{2}"  # SymPy rewrites (A^2)^T as (A^T)^2


def test_settings_change_symbols_and_float_digits():
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    assert to_latex(sp.HadamardProduct(A, B), hadamard_symbol=r"\circ") == r"A \circ B"
    assert to_latex(sp.Float(-15.655108380577747), float_digits=3) == "-15.7"
    assert to_latex(sp.Float(1.565510838057775), float_digits=3) == "1.57"


@pytest.mark.parametrize(
    "value, digits, text",
    [
        (3.34, None, "3.34"),
        (0.0, None, "0"),
        (-0.0, None, "0"),
        (2.0, None, "2"),
        (-15.655108380577747, 6, "-15.6551"),
        (1e-20, None, r"1 \times 10^{-20}"),
        (0.000123456, 3, r"0.000123"),
        (123456789.0, 3, r"1.23 \times 10^{8}"),
    ],
)
def test_format_number(value, digits, text):
    assert format_number(value, digits) == text


def test_format_number_rejects_non_finite():
    with pytest.raises(ValueError, match="non-finite"):
        format_number(float("nan"))


def test_numbers_stay_as_written_and_negative_ones_get_parentheses():
    w = FLAT.param("w3")
    expr = (w * sp.Symbol("x")).xreplace({w: Num(-1.22), sp.Symbol("x"): Num(0.5)})
    assert to_latex(expr, mul_symbol="dot") == r"\left(-1.22\right) \cdot 0.5"
    assert Num(-1.22).value == -1.22


def test_notation_symbols_print_verbatim():
    assert to_latex(Notation("z^{[1]}_{2}") + 1) == "z^{[1]}_{2} + 1"


def test_short_equations_stay_on_one_line():
    w = FLAT.param("w1")
    assert aligned("L", w + 1) == "L = w_{1} + 1"


def test_long_sums_are_broken_over_aligned_lines_without_losing_terms():
    loss = NET.loss([[1, 2], [3, 4], [5, 6]], [1, 2, -3])
    text = aligned("L", loss, width=120)
    assert text.startswith(r"\begin{aligned} L &= ") and text.endswith(r"\end{aligned}")
    lines = text[len(r"\begin{aligned} L &= ") : -len(r" \end{aligned}")].split(r" \\ &\quad ")
    assert len(lines) == 3  # one squared residual per line at this width
    for line, term in zip(lines, sp.Add.make_args(loss)):
        assert to_latex(term).lstrip("+ ") in line
    assert aligned("L", loss, width=120) == text  # deterministic


def test_long_products_are_split_into_factors():
    d = NET.derivative("w1_1_1", [[1, 2]], [3])
    text = aligned("D", d, width=60)
    assert text.count(r"\\ &\quad \cdot") >= 2
    assert text.startswith(r"\begin{aligned} D &= ")


# ----------------------------------------------------------------------------- latexify-py view of the code


def test_plain_latexify_confuses_matmul_hadamard_and_transpose():
    """The trap codeview fixes: latexify-py prints @ and * alike and .T literally."""
    plain = latexify.get_latex(reference.hidden_delta)
    assert "W_{\\mathrm{next}}.T" in plain or "W\\_next.T" in plain or ".T" in plain
    assert r"\odot" not in plain


@pytest.mark.parametrize(
    "fn, latex",
    [
        (
            reference.hidden_delta,
            r"\mathtt{hidden\_delta}\left(W^{[l+1]}, \delta^{[l+1]}, f'\left(z^{[l]}\right)\right) = "
            r"\left(W^{[l+1]}\right)^{\mathsf{T}} \delta^{[l+1]} \odot f'\left(z^{[l]}\right)",
        ),
        (
            reference.output_delta,
            r"\mathtt{output\_delta}\left(\nabla_{a} C, f'\left(z^{[L]}\right)\right) = \nabla_{a} C \odot f'\left(z^{[L]}\right)",
        ),
        (
            reference.weight_gradient,
            r"\mathtt{weight\_gradient}\left(\delta^{[l]}, a^{[l-1]}\right) = \delta^{[l]} \left(a^{[l-1]}\right)^{\mathsf{T}}",
        ),
        (reference.bias_gradient, r"\mathtt{bias\_gradient}\left(\delta^{[l]}\right) = \delta^{[l]} \mathbf{1}"),
        (
            reference.update,
            r"\mathtt{update}\left(\theta, \nabla_{\theta} L, \alpha\right) = \theta - \alpha \nabla_{\theta} L",
        ),
        (
            reference.sigmoid_prime,
            r"\mathtt{sigmoid\_prime}\left(z, a\right) = a \odot \mathopen{}\left( 1 - a \mathclose{}\right)",
        ),
        (reference.tanh_prime, r"\mathtt{tanh\_prime}\left(z, a\right) = 1 - a \odot a"),
        (reference.softplus, r"\mathtt{softplus}\left(z\right) = \log\left(1 + e^{z}\right)"),
        (
            reference.relu_prime,
            r"\mathtt{relu\_prime}\left(z, a\right) = \begin{cases} 1 & z > 0 \\ 0 & \text{otherwise} \end{cases}",
        ),
        (
            reference.leaky_relu,
            r"\mathtt{leaky\_relu}\left(z, \alpha\right) = \begin{cases} z & z > 0 \\ \alpha z & \text{otherwise} \end{cases}",
        ),
        (reference.sigmoid_bce_delta, r"\mathtt{sigmoid\_bce\_delta}\left(a, y\right) = a - y"),
        (reference.mean_scale, r"\mathtt{mean\_scale}\left(N, m\right) = \frac{1}{N m}"),
    ],
)
def test_reference_functions_render_as_the_math(fn, latex):
    assert render(fn) == latex


def test_scalar_expressions_render_exactly_as_latexify_does():
    """Where there is no array algebra, codeview is latexify-py's own output (same right-hand side)."""
    ours = render(reference.squared_error).split(" = ", 1)[1]
    theirs = latexify.get_latex(reference.squared_error).split(" = ", 1)[1]
    assert ours == theirs == r"\mathopen{}\left( a - y \mathclose{}\right)^{2}"


def test_render_refuses_multi_statement_functions():
    def two_lines(z):
        s = z + 1
        return s * s

    with pytest.raises(ValueError, match="one-line functions"):
        render(two_lines)


def test_codegen_is_a_latexify_expression_codegen():
    from latexify.codegen import expression_codegen

    assert issubclass(BackpropCodegen, expression_codegen.ExpressionCodegen)
