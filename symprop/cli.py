"""The command line: ``symprop show|derive|grad|descend|plot|verify FILE``, ``symprop regenerate DIR``; see docs/cli.md."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import listing, printable, suggest

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
JSON_VERSION = 1
FORMATS = ("md", "tex", "html", "latex")
LANGS = ("en", "bn")
PLOT_KINDS = ("curve", "history", "lrs", "network")

INTRO = """\
symprop: derive and verify backpropagation exactly.

usage: symprop COMMAND FILE [options]      (or: python -m symprop COMMAND FILE ...)

commands:
  show FILE                 the network, its parameters and the loss as a closed form
  derive FILE               the derivation (--param P, --format md|tex|html|latex, --lang en|bn, -o OUT, --code)
  regenerate DIR            regenerate the derivations of every problem file in DIR (--check)
  grad FILE                 every parameter's gradient at the file's values (--exact, --json)
  descend FILE              a gradient-descent trace (--train b3, --lr, --tol, --max-steps, --json, --plot OUT.png)
  plot FILE                 a figure (--kind curve|history|lrs|network -o OUT.png|OUT.svg)
  verify FILE MOD:FUNC      check your gradient function fn(weights, biases, X, Y) against the exact one

FILE is a problem file (TOML: [network], [data], [values], optional [train] and [derive]),
or the name of a built-in example of the seed notes: seed002, seed000, seed001.
Try the worked example:
  {example}
Run `symprop COMMAND --help` for the options of one command; docs/cli.md describes them all.
"""


class UsageError(Exception):
    """Bad usage or bad input: reported as one line on stderr, exit status 2."""


class CandidateError(Exception):
    """The user's gradient function raised: a failed verification, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 verification failed, 2 bad usage/input).

    Every failure is one line on stderr (the traceback only with ``--debug``): exit 1 when the
    checked gradient function is wrong or raised, exit 2 for everything else (bad input, refused
    work, an error inside symprop).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        sys.stdout.write(INTRO.format(example=example_command()))
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        import warnings

        import numpy as np

        from . import budget
        from .errors import OverflowWarning

        with budget.limit(args.budget), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", OverflowWarning)  # overflow is detected and reported, never printed
            return args.run(args)
    except CandidateError as exc:
        _debug(args)
        print(f"symprop {args.command}: verification failed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"symprop {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # symprop ... | head
        _quiet_stdout()
        return EXIT_OK
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the CLI's error boundary: one line, never a traceback
        _debug(args)
        print(f"symprop {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _debug(args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc()


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def describe_error(exc: BaseException) -> str:
    """One line for any exception: input errors as they are, the rest named by kind with what to do."""
    if isinstance(exc, (UsageError, ValueError, TypeError, OSError, ImportError)) and not isinstance(exc, _INTERNAL):
        return _one_line(exc)
    if isinstance(exc, MemoryError):
        return (
            "out of memory: the network, the data or the closed form is too large for this machine; use a "
            "smaller network or fewer samples (a smaller --budget refuses such work up front)"
        )
    if isinstance(exc, OverflowError):
        return (
            f"a number is too large for float64 ({_one_line(exc)}); use smaller values "
            "(|x| < 1.8e308, and far less where it is squared or exponentiated)"
        )
    if isinstance(exc, RecursionError):
        return "the expression is nested too deeply to handle (RecursionError); use a shallower network"
    if isinstance(exc, ArithmeticError):
        return f"arithmetic error: {type(exc).__name__}: {_one_line(exc)}; check the file's values"
    return (
        f"internal error: {type(exc).__name__}: {_one_line(exc)} (this is a bug in symprop; run with "
        "--debug for the traceback and report it)"
    )


#: exceptions that are ValueError/TypeError subclasses in NumPy or SymPy but mean something else
_INTERNAL: tuple[type[BaseException], ...] = (UnicodeError,)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return printable(" ".join(text.split()))


def example_command() -> str:
    """The command that runs the worked example: the seed 002 file in derivations/ in a checkout,
    else the built-in example of the same name."""
    found = sorted(_derivations_dir().glob("seed002*.toml")) or sorted(_derivations_dir().glob("*.toml"))
    if found:
        return f"symprop derive {_relative(found[0])}"
    return "symprop derive seed002"


def _derivations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "derivations"


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (inf: no limit), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    common.add_argument(
        "--allow-outside-data", action="store_true", help="let a problem file read a CSV outside its own directory"
    )
    common.add_argument(
        "--budget",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="refuse work estimated to take longer (default: $SYMPROP_BUDGET, else 60; inf: no limit)",
    )
    parser = _Parser(prog="symprop", description="Derive and verify backpropagation exactly.", parents=[common])
    parser.add_argument("--version", action="version", version=f"symprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, run: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        p.add_argument("file", metavar="FILE", help="a problem file (TOML)")
        p.set_defaults(run=run)
        return p

    p = command("show", run_show, "the network, its parameters and the loss as a closed form")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of a terminal form")
    p.add_argument(
        "--no-closed-form",
        action="store_true",
        help="leave out the loss as a closed form (for networks or data too large to print it)",
    )

    p = command("derive", run_derive, "the derivation of the gradient")
    p.add_argument("--param", help="the parameter to derive (default: the file's [derive] param)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="md",
        help="md (Markdown), tex (standalone LaTeX document), html, latex (LaTeX fragment)",
    )
    p.add_argument(
        "--lang",
        choices=LANGS,
        default="en",
        help="language of the prose (a Bengali tex document compiles with lualatex)",
    )
    p.add_argument(
        "-o", "--output", metavar="OUT", help="write to OUT instead of stdout (md: the figure OUT.svg beside it)"
    )
    p.add_argument("--code", action="store_true", help="add the appendix of the code that runs (latexify listing)")

    p = sub.add_parser(
        "regenerate",
        help="regenerate the derivations of a directory of problem files",
        description="Regenerate the .md, .tex, .html and .svg files of every problem file (*.toml) in DIR.",
        parents=[common],
    )
    p.add_argument("directory", metavar="DIR", help="a directory of problem files, e.g. derivations/")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a generated file is stale")
    p.set_defaults(run=run_regenerate)

    p = command("grad", run_grad, "every parameter's gradient at the file's values")
    p.add_argument("--exact", action="store_true", help="exact rationals where the network allows it")
    p.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output (see docs/cli.md); a non-finite number is written as null",
    )

    p = command("descend", run_descend, "a gradient-descent trace")
    p.add_argument(
        "--train",
        action="append",
        metavar="P[,P...]",
        help="parameters to train (repeatable or comma-separated; default: the file's, else all)",
    )
    p.add_argument("--lr", type=float, help="learning rate (default: the file's, else 0.1)")
    p.add_argument("--tol", type=float, help="stop when every step size is below TOL (default: the file's)")
    p.add_argument("--max-steps", type=int, help="at most this many steps (default: the file's, else 1000)")
    p.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    p.add_argument("--plot", metavar="OUT.png", help="also save a figure of the descent")

    p = command("plot", run_plot, "a figure: loss curve, loss history, learning rates or the network")
    p.add_argument("--kind", choices=PLOT_KINDS, default="curve", help="which figure (default: curve)")
    p.add_argument("--param", help="the parameter on the x axis of a curve (default: the trained one)")
    p.add_argument("--lrs", metavar="LR[,LR...]", help="learning rates to compare (kind lrs)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="OUT.png or OUT.svg")

    p = command("verify", run_verify, "check your gradient function against the exact gradient")
    p.add_argument(
        "function",
        metavar="MODULE:FUNCTION",
        help="fn(weights, biases, X, Y) -> (grad_weights, grad_biases), imported from the cwd too",
    )
    p.add_argument("--rtol", type=float, help="relative tolerance (default: symprop.verify's)")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: symprop.verify's)")
    p.add_argument("--markdown", action="store_true", help="print the report as a Markdown table")
    p.add_argument(
        "--layout",
        metavar="KEY=VALUE[,...]",
        help="how your function holds samples, weights and biases, e.g. samples=columns,weights=in_out "
        "(default: the file's [layout], else rows, out_in, flat, wb; see docs/verification.md)",
    )
    return parser


# --------------------------------------------------------------------------- shared helpers


def load(args: argparse.Namespace):
    """The problem file named on the command line."""
    from .problem import load_problem

    return load_problem(args.file, allow_outside_data=args.allow_outside_data)


def _nn_problem(problem) -> bool:
    from .nn_problem import is_nn_problem

    return is_nn_problem(problem)


def check_param(net, name: str, option: str) -> str:
    if name not in net.param_names:
        raise UsageError(
            f"{option}: unknown parameter {name!r}; valid: {listing(net.param_names)}." + suggest(name, net.param_names)
        )
    return name


def optional_module(name: str, command: str):
    """Import symprop.<name>, or fail with a clear 'not available' message."""
    try:
        return importlib.import_module(f".{name}", __package__)
    except ModuleNotFoundError as exc:
        missing = exc.name or name
        if missing.startswith(f"{__package__}."):
            raise UsageError(f"'{command}' is not available in this build of symprop (no module {missing})") from None
        raise UsageError(
            f"'{command}' needs the Python package {missing!r}, which is not installed"
            + (" (pip install 'symprop[plot]')" if missing == "matplotlib" else "")
        ) from None


def write_output(text: str, output: str | None) -> None:
    """stdout, or the file OUT written atomically (a temporary file renamed into place)."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from .atomic import write_text

    write_text(output, text, what="-o")
    print(f"wrote {output}", file=sys.stderr)


def check_output(output: str | None, option: str = "-o") -> None:
    """Refuse an output path that cannot be written before doing any work."""
    if output is not None:
        from .atomic import check_target

        path = Path(output)
        if path.exists() and not path.is_file() and not path.is_dir():
            return  # a device such as /dev/null or /dev/stdout: written directly
        check_target(path, option)


def print_json(data: dict[str, Any]) -> None:
    """JSON on stdout; a non-finite number (inf, nan) is written as null, so the output is valid JSON."""
    json.dump(json_safe(data), sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write("\n")


def json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _header(problem) -> str:
    title = f"{problem.title}\n" if problem.title else ""
    return f"{title}network: {problem.network!r}\n"


# --------------------------------------------------------------------------- show


def run_show(args: argparse.Namespace) -> int:
    import sympy as sp

    from . import budget
    from .display import format_number, pretty, table

    problem = load(args)
    if _nn_problem(problem):  # a [[layers]] file (symprop/nn_problem.py)
        from . import nn_problem

        return nn_problem.run_show(args, problem)
    net = problem.network
    n = problem.X.shape[0]
    if not args.no_closed_form:
        forms = budget.closed_form(net, n, "printing the loss as a closed form of every parameter")
        budget.check(forms, [f"fewer samples (the file has {n})", "--no-closed-form (everything but the closed form)"])
        notice(forms)
    render = (lambda e: sp.latex(e)) if args.latex else (lambda e: pretty(e) if sys.stdout.isatty() else sp.sstr(e))
    out = [_header(problem)]
    out.append(
        f"layers: {list(net.layers)}; activations: {', '.join(str(a) for a in net.activations)}; loss: {net.loss_name}"
    )
    out.append(f"data: {n} sample(s), {net.n_inputs} input(s), {net.n_outputs} output(s)")
    out.append(f"parameters ({net.n_params}):")
    rows = [
        [
            net.param_of[p.name],
            f"{p.kind}[{p.layer}]{list(p.index)}",
            format_number(float(problem.values[net.param_of[p.name]])),
        ]
        for p in net.param_infos
    ]  # one row per weight/bias entry; a tied parameter's name on each of its entries
    out.append(_indent(table(rows, ["name", "W/b[layer][index]", "value"], numeric=(2,))))
    if args.no_closed_form:
        sys.stdout.write("\n".join(out) + "\n")
        return EXIT_OK
    out.append("\nloss as a closed form of every parameter:")
    out.append(_indent(_labelled("C", render(net.loss(problem.X, problem.Y, exact=True)), args.latex)))
    if problem.train:
        fixed = problem.fixed
        loss = net.loss(problem.X, problem.Y, fix=fixed)
        names = ", ".join(problem.train)
        out.append(f"\nloss as a function of {names} (the other parameters at the file's values):")
        out.append(_indent(_labelled(f"C({names})", render(loss), args.latex)))
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def notice(estimate) -> None:
    """Long but sane work: say so on a terminal (the progress of a single SymPy call cannot be drawn)."""
    from . import budget

    if budget.long(estimate) and sys.stderr.isatty():
        print(f"symprop: {estimate} ...", file=sys.stderr, flush=True)


def _labelled(label: str, text: str, latex: bool) -> str:
    if latex:
        return f"{label} = {text}"
    if "\n" in text:
        return f"{label} =\n{text}"
    return f"{label} = {text}"


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


# --------------------------------------------------------------------------- derive


def run_derive(args: argparse.Namespace) -> int:
    from . import budget

    check_output(args.output)
    problem = load(args)
    if _nn_problem(problem):  # a [[layers]] file (symprop/nn_problem.py)
        from . import nn_problem

        return nn_problem.run_unsupported("derive")
    param = args.param or problem.param
    if param is None and problem.train is not None and len(problem.train) == 1:
        param = problem.train[0]
    if param is not None:
        check_param(problem.network, param, "--param")
    n = problem.X.shape[0]
    derivation_module = optional_module("derivation", "derive")
    # the derivation shows numbers factor by factor (no closed form beyond one line): its cost is the numbers shown
    forms = derivation_module.estimate(problem.network, n if problem.values is not None else None, param is not None)
    budget.check(
        forms,
        [
            f"fewer samples (the file has {n})",
            "a parameter nearer the output (--param)" if param else "one parameter (--param P)",
            "`symprop grad` for the numbers without the derivation",
        ],
    )
    check_finite_at_values(problem, "derive")
    notice(forms)
    derivation = derivation_module.derive_problem(problem, param=param, code=args.code)
    if args.format == "md":
        figure = None
        if args.output is not None:  # the figure as an image file beside the Markdown
            svg = Path(args.output).with_suffix(".svg")
            svg.write_text(derivation.figure_svg(), encoding="utf-8")
            figure = svg.name
        text = derivation.to_markdown(args.lang, figure=figure)
    elif args.format == "html":
        text = derivation.to_html(args.lang)
    elif args.format == "tex":
        text = derivation.to_latex_document(args.lang)
    else:
        text = derivation.to_latex(args.lang)
    write_output(text, args.output)
    return EXIT_OK


def check_finite_at_values(problem, command: str) -> None:
    """A derivation prints the loss and slopes at the file's values: they must be float64 numbers."""
    loss, grads = problem.network.compile().loss_and_gradient(problem.values, problem.X, problem.Y)
    bad = ([("the loss", loss)] if not math.isfinite(loss) else []) + [
        (f"the slope dL/d{name}", g) for name, g in grads.items() if not math.isfinite(g)
    ]
    if bad:
        what, value = bad[0]
        raise UsageError(
            f"{what} at the file's values is {value} (beyond float64: the values overflow); "
            f"{command} prints these numbers, so use smaller values"
            + (f" ({len(bad) - 1} more non-finite)" if len(bad) > 1 else "")
        )


def run_regenerate(args: argparse.Namespace) -> int:
    from .derivation.regenerate import run

    return run(args.directory, check=args.check)


# --------------------------------------------------------------------------- grad


def run_grad(args: argparse.Namespace) -> int:
    from . import budget
    from .display import format_number, gradient_table, table

    problem = load(args)
    if _nn_problem(problem):  # a [[layers]] file (symprop/nn_problem.py)
        from . import nn_problem

        return nn_problem.run_grad(args, problem)
    net = problem.network
    n = problem.X.shape[0]
    budget.check(budget.numeric(net, n), [f"fewer samples (the file has {n})"])
    if args.exact:
        budget.check(
            budget.certified(net, n, what="the exact gradient (--exact)"),
            [f"fewer samples (the file has {n})", "grad without --exact (float64)"],
        )
    loss, grads = net.compile().loss_and_gradient(problem.values, problem.X, problem.Y)
    exact = exact_gradient(problem) if args.exact else None
    overflow = overflowed(problem, loss, grads, exact)
    if args.json:
        data: dict[str, Any] = {
            "version": JSON_VERSION,
            "file": str(problem.source),
            "network": repr(net),
            "loss_name": net.loss_name,
            "loss": loss,
            "values": {n: float(problem.values[n]) for n in net.param_names},
            "gradient": grads,
        }
        if exact is not None:
            data["exact"] = exact
        print_json(data)
        for line in overflow:
            print(f"symprop grad: note: {line} (written as null in the JSON)", file=sys.stderr)
        return EXIT_OK
    out = [_header(problem), f"loss at the file's values: {format_number(loss, 15)}", ""]
    if exact is None:
        out.append(gradient_table(grads, problem.values))
    else:
        rows = [
            [n, format_number(float(problem.values[n])), e["text"], "yes" if e["rational"] else "no"]
            for n, e in exact.items()
        ]
        out.append(table(rows, ["parameter", "value", "exact dL/dparam", "rational"], numeric=(1, 2)))
        if not all(e["rational"] for e in exact.values()):
            out.append("\nnot rational: the exact value involves exp/log/...; shown to 15 significant digits.")
    if overflow:
        out.append("\nfloat64 overflow: " + "; ".join(overflow) + ".")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def overflowed(problem, loss: float, grads: dict[str, float], exact: dict | None) -> list[str]:
    """Where float64 overflowed, fix the compiled numbers from the exact values and say what happened.

    A gradient that float64 computes as nan or inf (an intermediate overflowed) is replaced by the
    exact value rounded to float64, which is +-inf when its magnitude is beyond 1.8e308.
    """
    bad = [name for name, g in grads.items() if not math.isfinite(g)]
    notes = [] if math.isfinite(loss) else [f"the loss is {loss} in float64"]
    if not bad:
        return notes
    from . import budget

    if exact is None:
        try:
            budget.check(
                budget.certified(problem.network, problem.X.shape[0], what="the exact values of the overflowed slopes")
            )
            exact = exact_gradient(problem, rational=False)
        except budget.BudgetError:
            exact = None
    for name in bad:
        if exact is None:
            notes.append(
                f"dL/d{name} is {grads[name]} (an intermediate float64 overflow; too large to recompute exactly)"
            )
            continue
        text = exact[name]["text"]
        value = exact[name]["float"]
        grads[name] = value
        if math.isfinite(value):
            notes.append(f"dL/d{name} overflowed in float64 on the way; its exact value {text} is shown")
        else:
            notes.append(f"dL/d{name} is {value} in float64: its exact value {text} is beyond the float64 range")
    return notes


def exact_gradient(problem, rational: bool | None = None) -> dict[str, dict[str, Any]]:
    """Every parameter's exact derivative at the file's values (the file's numbers read as exact decimals).

    One call of ``symprop.certified.reverse_pass`` (the one numeric reverse pass): exact Fractions for a
    network that keeps rationals rational (identity/relu/leaky_relu with mse/sse/quadratic), shown as p/q;
    otherwise certified FLINT/Arb balls, shown to 15 significant digits (the ball is narrower than a float64
    ulp, so every digit shown is right up to the rounding of the last). ``rational=False`` asks for the balls.
    A progress bar is drawn on a terminal while it runs.
    """
    from .certified import rational_network, reverse_pass
    from .display import Progress

    net = problem.network
    weights, biases, X, Y = _exact_arrays(problem)
    arithmetic = "rationals" if rational is not False and rational_network(net) else "balls"
    with Progress(X.shape[0], "exact gradient") as bar:

        def progress(done: int, prec: int) -> None:
            bar.set(done, f"({prec} bits)" if prec else "")  # a rerun at a higher precision starts again

        result = reverse_pass(net, weights, biases, X, Y, arithmetic=arithmetic, progress=progress)
    return {name: _exact_entry(result, name) for name in net.param_names}


def _exact_arrays(problem) -> tuple[list, list, Any, Any]:
    """(weights, biases, X, Y) as object arrays of exact Fractions: every number of the file as the decimal it
    is written as (0.1 is 1/10)."""
    import numpy as np

    from .spec import exact_number

    net = problem.network
    weights = [np.empty((net.layers[l + 1], net.layers[l]), dtype=object) for l in range(net.depth)]
    biases = [np.empty(net.layers[l + 1], dtype=object) for l in range(net.depth)]
    for info in net.param_infos:
        value = exact_number(problem.values[net.param_of[info.name]], f'value of "{info.name}"')
        (weights if info.kind == "w" else biases)[info.layer - 1][info.index] = value

    def exact(arr) -> Any:
        out = np.empty(arr.shape, dtype=object)
        out.flat = [exact_number(v, "a datum") for v in np.asarray(arr).flat]
        return out

    return weights, biases, exact(problem.X), exact(problem.Y)


def _exact_entry(result, name: str) -> dict[str, Any]:
    if name in result.fractions:
        q = result.fractions[name]
        return {
            "rational": True,
            "text": str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}",
            "float": result[name],
        }
    ball = result.balls[name]
    if not ball.is_finite():
        raise UsageError(f"the exact gradient of {name} is not a real number here ({ball}); check the file's values")
    return {"rational": False, "text": ball.str(15, radius=False), "float": result[name]}


# --------------------------------------------------------------------------- descend


def train_params(net, problem, option: list[str] | None) -> tuple[str, ...] | None:
    """--train (repeatable, comma-separated) overrides the file's [train] params; None means all."""
    if not option:
        return problem.train
    names = [n.strip() for item in option for n in item.split(",") if n.strip()]
    if not names:
        raise UsageError("--train needs at least one parameter name")
    return tuple(check_param(net, n, "--train") for n in names)


def _positive(value: float | None, option: str) -> float | None:
    if value is not None and not value > 0:
        raise UsageError(f"{option} must be positive, got {value}")
    return value


def run_descend(args: argparse.Namespace) -> int:
    from . import budget

    problem = load(args)
    if _nn_problem(problem):  # a [[layers]] file (symprop/nn_problem.py)
        from . import nn_problem

        return nn_problem.run_descend(args, problem)
    net = problem.network
    train = train_params(net, problem, args.train)
    lr = _finite(_positive(args.lr, "--lr"), "--lr") or problem.lr
    tol = _finite(_positive(args.tol, "--tol"), "--tol") if args.tol is not None else problem.tol
    max_steps = problem.max_steps if args.max_steps is None else args.max_steps
    if max_steps < 1:
        raise UsageError(f"--max-steps must be a positive integer, got {max_steps}")
    if args.plot:
        _check_figure_path(args.plot, "--plot")
    descent = optional_module("descent", "descend")
    trace = descent.descend(
        net,
        problem.values,
        problem.X,
        problem.Y,
        train=train,
        lr=lr,
        tol=tol,
        max_steps=max_steps,
        time_limit=budget.seconds_allowed(),
        progress=True,
    )
    if args.json:
        budget.check(
            budget.Estimate(
                "writing the trace as JSON",
                float(len(trace.steps)) * (net.n_params + 4 * len(trace.train)),
                "output numbers",
            ),
            ["--train fewer parameters", "fewer steps", "the text table (without --json)"],
        )
        print_json(
            {
                "version": JSON_VERSION,
                "file": str(problem.source),
                "network": repr(net),
                "train": list(train) if train else list(net.param_names),
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
    if args.plot:
        plotting = optional_module("plotting", "descend --plot")
        if train and len(train) == 1:
            budget.check(
                budget.numeric(
                    net, problem.X.shape[0], passes=2 * 300 + 2 * len(trace.steps), what="drawing the loss curve"
                ),
                ["--plot of a smaller problem"],
            )
            fig = plotting.loss_curve(net, problem.values, problem.X, problem.Y, train[0], trace=trace)
        else:
            fig = plotting.loss_history(trace)
        plotting.save(fig, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return EXIT_OK


#: the text table of a long descent shows the first and last steps only, and of a wide one the first
#: parameters of each step (--json has them all)
TABLE_STEPS, TABLE_PARAMS = 200, 50


def _finite(value: float | None, option: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise UsageError(f"{option} must be a finite number, got {value}")
    return value


# --------------------------------------------------------------------------- plot


def _check_figure_path(output: str, option: str) -> Path:
    from .atomic import check_target

    path = Path(output)
    if path.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{option} {output}: the figure must be a .png or .svg file")
    return check_target(path, option)


def run_plot(args: argparse.Namespace) -> int:
    from . import budget

    problem = load(args)
    if _nn_problem(problem):  # a [[layers]] file (symprop/nn_problem.py)
        from . import nn_problem

        return nn_problem.run_unsupported("plot")
    net = problem.network
    path = _check_figure_path(args.output, "-o")
    plotting = optional_module("plotting", "plot")
    X, Y, values = problem.X, problem.Y, problem.values
    n = X.shape[0]
    if args.kind == "network":
        budget.check(
            budget.Estimate(
                f"drawing the network diagram of {net.n_params} labelled parameters",
                float(net.n_params + sum(net.layers)),
                "figure elements",
            ),
            ["--kind curve or --kind history (the diagram labels every weight)"],
        )
        fig = plotting.network_diagram(net, values=values)
    elif args.kind == "curve":
        param = args.param or (problem.train[0] if problem.train and len(problem.train) == 1 else problem.param)
        if param is None:
            raise UsageError("plot --kind curve needs --param P (or one parameter in the file's [train] params)")
        budget.check(budget.numeric(net, n, passes=600, what="the loss curve (300 points)"), [f"fewer samples ({n})"])
        fig = plotting.loss_curve(net, values, X, Y, check_param(net, param, "--param"))
    elif args.kind == "history":
        descent = optional_module("descent", "plot --kind history")
        trace = descent.descend(
            net,
            values,
            X,
            Y,
            train=problem.train,
            lr=problem.lr,
            tol=problem.tol,
            max_steps=problem.max_steps,
            time_limit=budget.seconds_allowed(),
            progress=True,
        )
        fig = plotting.loss_history(trace)
    else:
        lrs = _learning_rates(args.lrs, problem.lr)
        if problem.tol is None:
            budget.check(
                budget.numeric(
                    net,
                    n,
                    passes=2 * len(lrs) * problem.max_steps,
                    what=f"{len(lrs)} descents of max_steps = {problem.max_steps}",
                ),
                ["fewer learning rates (--lrs)", "a smaller max_steps or a tol in the file's [train]"],
            )
        fig = plotting.compare_learning_rates(
            net, values, X, Y, lrs=lrs, train=problem.train, tol=problem.tol, max_steps=problem.max_steps
        )
    plotting.save(fig, str(path))
    print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _learning_rates(text: str | None, lr: float) -> list[float]:
    if text is None:
        return [lr / 10, lr, lr * 5]
    try:
        rates = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--lrs must be comma-separated numbers such as 0.01,0.1,0.5, got {text!r}") from None
    if not rates or any(not (r > 0 and math.isfinite(r)) for r in rates):
        raise UsageError(f"--lrs must be positive finite numbers, got {text!r}")
    return rates


# --------------------------------------------------------------------------- verify


def import_function(spec: str) -> Callable[..., Any]:
    """Import ``module:function``: the module from the current directory if it is there, else installed.

    SymPy, mpmath and NumPy are imported first, and the current directory is searched for the named
    module only (then appended to the end of sys.path for its own imports), so a file in the
    current directory named like a library (``mpmath.py``, ``sympy.py``, ``numpy.py``) is never run.
    """
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise UsageError(f"{spec!r} is not MODULE:FUNCTION, e.g. mygrad:backprop (mygrad.py in this directory)")
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise UsageError(f"{printable(module_name)!r} is not a module name (MODULE:FUNCTION, e.g. mygrad:backprop)")
    import mpmath  # noqa: F401 - the libraries first: nothing in the cwd can shadow them afterwards
    import numpy  # noqa: F401
    import sympy  # noqa: F401

    from . import verification  # noqa: F401

    cwd = os.getcwd()
    try:
        module = _import_from(module_name, cwd)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(f"cannot import module {module_name!r} (looked in {cwd} and on sys.path)") from None
        raise UsageError(f"importing {module_name!r} failed: {exc}") from None
    except (CandidateError, UsageError):
        raise
    except BaseException as exc:  # the user's module raised (or exited) while importing
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(f"importing {module_name!r} failed: {type(exc).__name__}: {_one_line(exc)}") from None
    func = getattr(module, func_name, None)
    if func is None:
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise UsageError(
            f"module {module_name!r} has no function {func_name!r}; it has: {listing(names)}."
            + suggest(func_name, names)
        )
    if not callable(func):
        raise UsageError(f"{spec} is not callable (it is a {type(func).__name__})")
    return func


def _import_from(module_name: str, directory: str):
    """The module ``module_name`` from ``directory`` when it is there, else from sys.path."""
    import importlib.machinery
    import importlib.util

    top = module_name.split(".")[0]
    if directory not in sys.path:
        sys.path.append(directory)  # last: the candidate's own helper modules, never before a library
    found = importlib.machinery.PathFinder.find_spec(top, [directory])
    if top in sys.modules:
        loaded = getattr(sys.modules[top], "__file__", None)
        if found is not None and found.origin and loaded and Path(loaded).resolve() != Path(found.origin).resolve():
            raise UsageError(
                f"{found.origin} has the name of the module {top!r} that is already imported from "
                f"{loaded}; rename your file (e.g. my_{top}.py)"
            )
        return importlib.import_module(module_name)
    if found is not None and found.loader is not None:
        module = importlib.util.module_from_spec(found)
        sys.modules[top] = module
        try:
            found.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(top, None)
            raise
    return importlib.import_module(module_name)


def guarded(func: Callable[..., Any], spec: str) -> Callable[..., Any]:
    """The user's function, with its own exceptions turned into a failed verification."""

    def candidate(weights, biases, X, Y):
        try:
            return func(weights, biases, X, Y)
        except Exception as exc:
            raise CandidateError(f"{spec} raised {type(exc).__name__}: {exc}") from exc

    candidate.__name__ = getattr(func, "__name__", spec)
    candidate.__qualname__ = getattr(func, "__qualname__", spec)
    return candidate


def run_verify(args: argparse.Namespace) -> int:
    problem = load(args)
    if _nn_problem(problem):  # a [[layers]] file (symprop/nn_problem.py)
        from . import nn_problem

        return nn_problem.run_verify(args, problem)
    func = import_function(args.function)
    verify_module = optional_module("verification", "verify")
    from .layout import Layout

    layout = Layout.parse(args.layout, "--layout") if args.layout else getattr(problem, "layout", None)
    try:
        X, Y = (
            (problem.X.T, problem.Y.T) if layout is not None and layout.samples == "columns" else (problem.X, problem.Y)
        )
        report = verify_module.verify(
            guarded(func, args.function),
            problem.network,
            problem.values,
            X,
            Y,
            rtol=args.rtol,
            atol=args.atol,
            layout=layout,
        )  # the file's data are rows
    except TypeError as exc:  # the candidate returned something that is not a gradient
        raise CandidateError(str(exc)) from exc
    if report.crash:
        print(f"symprop verify: verification failed: {report.crash}", file=sys.stderr)
    text = report.to_markdown() if args.markdown else str(report)
    sys.stdout.write(_header(problem) + "\n" + text.rstrip("\n") + "\n")
    if not report:
        print(f"symprop verify: {args.function} does not match the exact gradient", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
