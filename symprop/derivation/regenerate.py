"""Regenerating the derivations of a directory of problem files: ``symprop regenerate DIR [--check]``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .derive import Derivation, derive_problem

COMMAND = "symprop regenerate derivations/"


def _figure_name(stem: str) -> str:
    return f"{stem}.svg"


def _outputs(stem: str) -> dict[str, Callable[[Derivation], str]]:
    figure = _figure_name(stem)
    return {
        ".md": lambda d: d.to_markdown("en", figure=figure),
        ".bn.md": lambda d: d.to_markdown("bn", figure=figure),
        ".tex": lambda d: d.to_latex_document("en"),
        ".bn.tex": lambda d: d.to_latex_document("bn"),
        ".html": lambda d: d.to_html("en"),
        ".bn.html": lambda d: d.to_html("bn"),
        ".svg": lambda d: d.figure_svg(),
    }


#: the generated file suffixes of one problem file
OUTPUTS: tuple[str, ...] = tuple(_outputs("x"))


def _stamp(suffix: str, source: str, text: str) -> str:
    note = f"generated from {source} by `{COMMAND}`; do not edit"
    if suffix.endswith(".tex"):
        return f"% {note}\n" + text
    if suffix == ".svg":  # after the XML declaration, which must come first
        head, rest = text.split("\n", 1)
        return f"{head}\n<!-- {note} -->\n{rest}"
    return f"<!-- {note} -->\n" + text


def render_problem(path: str | Path) -> dict[Path, str]:
    """The generated files of one problem file: path -> text (nothing written)."""
    from ..problem import load_problem

    path = Path(path)
    derivation = derive_problem(load_problem(path))
    stem = path.with_suffix("")
    return {
        stem.with_name(stem.name + suffix): _stamp(suffix, path.name, render(derivation))
        for suffix, render in _outputs(stem.name).items()
    }


def regenerate(directory: str | Path, check: bool = False) -> list[Path]:
    """Regenerate every derivation of the problem files (*.toml) in ``directory``.

    Returns the files written, or with ``check=True`` writes nothing and returns the files that
    are missing or differ from what would be generated (stale).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory of problem files (*.toml)")
    problems = sorted(directory.glob("*.toml"))
    if not problems:
        raise ValueError(f"{directory}: no problem files (*.toml) in it")
    changed: list[Path] = []
    from ..progress import track

    for problem in track(problems, "regenerating", item=lambda path: path.name):
        for target, text in render_problem(problem).items():
            current = target.read_text(encoding="utf-8") if target.is_file() else None
            if current == text:
                continue
            changed.append(target)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed


def run(directory: str, check: bool = False, out=print) -> int:
    """The command: print what was written (or is stale); exit status 1 when ``check`` finds stale files."""
    changed = regenerate(directory, check=check)
    for path in changed:
        out(f"{'stale' if check else 'wrote'} {path}")
    if check and not changed:
        out(f"{directory}: every generated file is up to date")
    return 1 if check and changed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m symprop.derivation DIRECTORY [--check]`` (the same as ``symprop regenerate``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m symprop.derivation",
        description="Regenerate the derivations (.md, .tex, .html, .svg) of every problem file.",
    )
    parser.add_argument("directory", help="a directory of problem files (*.toml), e.g. derivations/")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a generated file is stale")
    args = parser.parse_args(argv)
    try:
        return run(args.directory, check=args.check)
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
