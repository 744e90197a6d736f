"""The command line: ``symprop show|derive|grad|descend|plot|verify FILE``, ``symprop regenerate DIR``; see docs/cli.md."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import listing, suggest

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
    """Run the command line; returns the exit status (0 ok, 1 verification failed, 2 bad usage/input)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        sys.stdout.write(INTRO.format(example=example_command()))
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        return args.run(args)
    except CandidateError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"symprop {args.command}: verification failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (UsageError, ValueError, TypeError, OSError, ImportError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"symprop {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"symprop {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    return " ".join(text.split())


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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
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

    p = command("derive", run_derive, "the derivation of the gradient")
    p.add_argument("--param", help="the parameter to derive (default: the file's [derive] param)")
    p.add_argument("--format", choices=FORMATS, default="md",
                   help="md (Markdown), tex (standalone LaTeX document), html, latex (LaTeX fragment)")
    p.add_argument("--lang", choices=LANGS, default="en", help="language of the prose (a Bengali tex document compiles with lualatex)")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout (md: the figure OUT.svg beside it)")
    p.add_argument("--code", action="store_true", help="add the appendix of the code that runs (latexify listing)")

    p = sub.add_parser("regenerate", help="regenerate the derivations of a directory of problem files",
                       description="Regenerate the .md, .tex, .html and .svg files of every problem file (*.toml) "
                                   "in DIR.", parents=[common])
    p.add_argument("directory", metavar="DIR", help="a directory of problem files, e.g. derivations/")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a generated file is stale")
    p.set_defaults(run=run_regenerate)

    p = command("grad", run_grad, "every parameter's gradient at the file's values")
    p.add_argument("--exact", action="store_true", help="exact rationals where the network allows it")
    p.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")

    p = command("descend", run_descend, "a gradient-descent trace")
    p.add_argument("--train", action="append", metavar="P[,P...]",
                   help="parameters to train (repeatable or comma-separated; default: the file's, else all)")
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
    p.add_argument("function", metavar="MODULE:FUNCTION",
                   help="fn(weights, biases, X, Y) -> (grad_weights, grad_biases), imported from the cwd too")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: symprop.verify's)")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: symprop.verify's)")
    p.add_argument("--markdown", action="store_true", help="print the report as a Markdown table")
    return parser


# --------------------------------------------------------------------------- shared helpers


def load(args: argparse.Namespace):
    """The problem file named on the command line."""
    from .problem import load_problem

    return load_problem(args.file)


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
        raise UsageError(f"'{command}' needs the Python package {missing!r}, which is not installed"
                         + (" (pip install 'symprop[plot]')" if missing == "matplotlib" else "")) from None


def write_output(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(output)
    if not path.parent.is_dir():
        raise UsageError(f"-o {output}: directory {path.parent} does not exist")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def print_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _header(problem) -> str:
    title = f"{problem.title}\n" if problem.title else ""
    return f"{title}network: {problem.network!r}\n"


# --------------------------------------------------------------------------- show


def run_show(args: argparse.Namespace) -> int:
    import sympy as sp

    from .display import pretty

    problem = load(args)
    net = problem.network
    render = (lambda e: sp.latex(e)) if args.latex else (lambda e: pretty(e) if sys.stdout.isatty() else sp.sstr(e))
    out = [_header(problem)]
    out.append(f"layers: {list(net.layers)}; activations: {', '.join(str(a) for a in net.activations)}; "
               f"loss: {net.loss_name}")
    out.append(f"data: {problem.X.shape[0]} sample(s), {net.n_inputs} input(s), {net.n_outputs} output(s)")
    out.append(f"parameters ({net.n_params}):")
    from .display import format_number, table

    rows = [[p.name, f"{p.kind}[{p.layer}]{list(p.index)}", format_number(float(problem.values[p.name]))]
            for p in net.param_infos]
    out.append(_indent(table(rows, ["name", "W/b[layer][index]", "value"], numeric=(2,))))
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
    problem = load(args)
    param = args.param or problem.param
    if param is not None:
        check_param(problem.network, param, "--param")
    derivation_module = optional_module("derivation", "derive")
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


def run_regenerate(args: argparse.Namespace) -> int:
    from .derivation.regenerate import run

    return run(args.directory, check=args.check)


# --------------------------------------------------------------------------- grad


def run_grad(args: argparse.Namespace) -> int:
    from .display import format_number, gradient_table, table

    problem = load(args)
    net = problem.network
    loss, grads = net.compile().loss_and_gradient(problem.values, problem.X, problem.Y)
    exact = exact_gradient(problem) if args.exact else None
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
        return EXIT_OK
    out = [_header(problem), f"loss at the file's values: {format_number(loss, 15)}", ""]
    if exact is None:
        out.append(gradient_table(grads, problem.values))
    else:
        rows = [[n, format_number(float(problem.values[n])), e["text"], "yes" if e["rational"] else "no"]
                for n, e in exact.items()]
        out.append(table(rows, ["parameter", "value", "exact dL/dparam", "rational"], numeric=(1, 2)))
        if not all(e["rational"] for e in exact.values()):
            out.append("\nnot rational: the exact value involves exp/log/...; shown to 15 significant digits.")
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def exact_gradient(problem, dps: int = 40) -> dict[str, dict[str, Any]]:
    """Every parameter's exact derivative at the file's values (the file's numbers read as exact decimals).

    The reverse pass (derive.reverse_sample) runs on the numbers themselves, sample by sample, so no
    expression grows: with Rationals first, which gives the exact value wherever every operation
    on the way is rational (linear networks, relu, the squared losses); the parameters whose value
    is not rational are then evaluated by the same pass on ``dps``-digit Floats.
    """
    net = problem.network
    Xs, Ys = _exact_data(problem)
    exact = _reverse_pass_at(net, Xs, Ys, {n: _rational(v, n) for n, v in problem.values.items()}, "exact gradient")
    out = {name: _exact_entry(value) for name, value in exact.items() if value.is_Rational}
    if len(out) < len(exact):
        import sympy as sp

        def decimal(v: Any) -> Any:
            return sp.Float(v.evalf(dps), dps)

        floats = _reverse_pass_at(net, [[decimal(v) for v in row] for row in Xs], [[decimal(v) for v in row] for row in Ys],
                                  {n: decimal(_rational(v, n)) for n, v in problem.values.items()}, "evaluating")
        out.update({name: _exact_entry(value) for name, value in floats.items() if name not in out})
    return {name: out[name] for name in net.param_names}


def _exact_data(problem) -> tuple[list, list]:
    from .graph import sympy_data

    return sympy_data(problem.network, problem.X, problem.Y, exact=True)


def _rational(value: Any, name: str) -> Any:
    from .graph import to_sympy

    return to_sympy(value, True, f'value of "{name}"')


def _reverse_pass_at(net, Xs: list, Ys: list, values: dict[str, Any], label: str) -> dict[str, Any]:
    """sum over samples of the backprop terms delta^{[l]}_j (a^{[l-1]}_k), with every node a number.

    With Rationals, the pass over the samples stops early once no parameter can still be rational.
    """
    import sympy as sp

    from .chainrule import sample_terms
    from .display import Progress
    from .graph import parameter_symbols, weight_matrices
    from .losses import scale_value

    params = parameter_symbols(net)
    W, b = weight_matrices(net, {p: values[p.name] for p in params})
    terms: dict[str, list[Any]] = {info.name: [] for info in net.param_infos}
    rational_inputs = all(v.is_Rational for v in values.values())
    with Progress(len(Xs), label) as bar:
        for sample in sample_terms(net, Xs, Ys, W, b):
            for name, term in sample.items():
                terms[name].append(term)
            bar.update()
            if rational_inputs and not any(all(t.is_Rational for t in ts) for ts in terms.values()):
                break  # every parameter already has an irrational term: the Float pass will evaluate them
    scale = scale_value(net.loss_name, len(Xs), net.n_outputs)
    return {name: scale * sp.Add(*ts) if len(ts) == len(Xs) else sp.nan for name, ts in terms.items()}


def _exact_entry(value) -> dict[str, Any]:
    import sympy as sp

    if isinstance(value, sp.Rational):
        text = str(value.p) if value.q == 1 else f"{value.p}/{value.q}"
        return {"rational": True, "text": text, "float": float(value)}
    number = value.evalf(15)
    if not number.is_real:
        raise UsageError(f"the exact gradient is not a real number here ({number}); check the file's values")
    return {"rational": False, "text": str(sp.Float(number, 15)), "float": float(number)}


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
    problem = load(args)
    net = problem.network
    train = train_params(net, problem, args.train)
    lr = _positive(args.lr, "--lr") or problem.lr
    tol = _positive(args.tol, "--tol") if args.tol is not None else problem.tol
    max_steps = problem.max_steps if args.max_steps is None else args.max_steps
    if max_steps < 1:
        raise UsageError(f"--max-steps must be a positive integer, got {max_steps}")
    if args.plot:
        _check_figure_path(args.plot, "--plot")
    descent = optional_module("descent", "descend")
    trace = descent.descend(net, problem.X, problem.Y, problem.values, train=train, lr=lr, tol=tol,
                            max_steps=max_steps)
    if args.json:
        print_json({"version": JSON_VERSION, "file": str(problem.source), "network": repr(net),
                    "train": list(train) if train else list(net.param_names), "lr": lr, "tol": tol,
                    "max_steps": max_steps, "trace": trace.to_dict()})
    else:
        sys.stdout.write(_header(problem) + "\n" + trace.to_markdown().rstrip("\n") + "\n")
    if args.plot:
        plotting = optional_module("plotting", "descend --plot")
        if train and len(train) == 1:
            fig = plotting.loss_curve(net, problem.X, problem.Y, problem.values, train[0], trace=trace)
        else:
            fig = plotting.loss_history(trace)
        plotting.save(fig, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- plot


def _check_figure_path(output: str, option: str) -> Path:
    path = Path(output)
    if path.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{option} {output}: the figure must be a .png or .svg file")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {output}: directory {path.parent} does not exist")
    return path


def run_plot(args: argparse.Namespace) -> int:
    problem = load(args)
    net = problem.network
    path = _check_figure_path(args.output, "-o")
    plotting = optional_module("plotting", "plot")
    X, Y, values = problem.X, problem.Y, problem.values
    if args.kind == "network":
        fig = plotting.network_diagram(net, values=values)
    elif args.kind == "curve":
        param = args.param or (problem.train[0] if problem.train and len(problem.train) == 1 else problem.param)
        if param is None:
            raise UsageError("plot --kind curve needs --param P (or one parameter in the file's [train] params)")
        fig = plotting.loss_curve(net, X, Y, values, check_param(net, param, "--param"))
    elif args.kind == "history":
        descent = optional_module("descent", "plot --kind history")
        trace = descent.descend(net, X, Y, values, train=problem.train, lr=problem.lr, tol=problem.tol,
                                max_steps=problem.max_steps)
        fig = plotting.loss_history(trace)
    else:
        lrs = _learning_rates(args.lrs, problem.lr)
        fig = plotting.compare_learning_rates(net, X, Y, values, lrs=lrs, train=problem.train,
                                              tol=problem.tol, max_steps=problem.max_steps)
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
    if not rates or any(not r > 0 for r in rates):
        raise UsageError(f"--lrs must be positive numbers, got {text!r}")
    return rates


# --------------------------------------------------------------------------- verify


def import_function(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (the current directory is searched first)."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise UsageError(f"{spec!r} is not MODULE:FUNCTION, e.g. mygrad:backprop (mygrad.py in this directory)")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(f"cannot import module {module_name!r} (looked in {cwd} and on sys.path)") from None
        raise UsageError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:  # the user's module raised while importing
        raise UsageError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    func = getattr(module, func_name, None)
    if func is None:
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise UsageError(f"module {module_name!r} has no function {func_name!r}; it has: {listing(names)}."
                         + suggest(func_name, names))
    if not callable(func):
        raise UsageError(f"{spec} is not callable (it is a {type(func).__name__})")
    return func


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
    func = import_function(args.function)
    verify_module = optional_module("verification", "verify")
    try:
        report = verify_module.verify(guarded(func, args.function), problem.network, problem.values, problem.X,
                                      problem.Y, rtol=args.rtol, atol=args.atol)
    except TypeError as exc:  # the candidate returned something that is not a gradient
        raise CandidateError(str(exc)) from exc
    text = report.to_markdown() if args.markdown else str(report)
    sys.stdout.write(_header(problem) + "\n" + text.rstrip("\n") + "\n")
    if not report:
        print(f"symprop verify: {args.function} does not match the exact gradient", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
