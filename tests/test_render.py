"""Rendering for real: every generated .tex compiles (pdflatex; lualatex for Bengali), the HTML shows math in
Chromium offline."""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from symprop import Network
from symprop.derivation import derive

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"
TEX_FILES = sorted(p for p in DERIVATIONS.glob("*.tex") if not p.name.endswith(".bn.tex"))
BN_TEX_FILES = sorted(DERIVATIONS.glob("*.bn.tex"))
PDFLATEX = shutil.which("pdflatex")
LUALATEX = shutil.which("lualatex")
PDFTOTEXT = shutil.which("pdftotext")
needs_lualatex = pytest.mark.skipif(LUALATEX is None or PDFTOTEXT is None, reason=(
    "lualatex or pdftotext not installed (Debian: texlive-luatex fonts-lohit-beng-bengali poppler-utils; "
    ".ci/run installs them)"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_pdflatex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not installed (Debian: texlive-latex-base "
                                                              "texlive-latex-recommended; .ci/run installs them)")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: chromium; .ci/run installs it)")


def compile_tex(source: str, workdir: Path, name: str = "doc", engine: str | None = PDFLATEX) -> subprocess.CompletedProcess:
    tex = workdir / f"{name}.tex"
    tex.write_text(source, encoding="utf-8")
    return subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=workdir,
                          capture_output=True, text=True, timeout=300)


@needs_lualatex
@pytest.mark.parametrize("tex", BN_TEX_FILES, ids=[p.name for p in BN_TEX_FILES])
def test_generated_bengali_tex_compiles_with_lualatex_and_keeps_its_text(tex, tmp_path):
    """Every glyph found in a font, and the PDF's text has each step's Bengali title (from the narration table)."""
    from symprop.derivation import derive_problem
    from symprop.problem import load_problem

    result = compile_tex(tex.read_text(encoding="utf-8"), tmp_path, engine=LUALATEX)
    assert result.returncode == 0, result.stdout[-3000:]
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Missing character" not in log and "Overfull \\hbox" not in log
    text = subprocess.run([PDFTOTEXT, "doc.pdf", "-"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    def squeeze(s: str) -> str:  # pdftotext may put spaces inside shaped words and writes য় as one code point
        return unicodedata.normalize("NFD", "".join(s.split()))

    steps = derive_problem(load_problem(tex.with_name(tex.name.replace(".bn.tex", ".toml")))).steps
    for step in steps:
        assert squeeze(step.title_in("bn")) in squeeze(text), step.title_in("bn")


@needs_lualatex
def test_bengali_document_without_a_bengali_font_says_so(tmp_path):
    from symprop.derivation import BENGALI_FONTS, derive

    document = derive(Network([1, 1], hidden="identity", output="identity")).to_latex_document("bn")
    for font in BENGALI_FONTS:  # make every font name unknown
        document = document.replace(f"{{{font}}}", f"{{{font} Missing}}")
    result = compile_tex(document, tmp_path, engine=LUALATEX)
    assert result.returncode != 0
    assert "No Bengali font found" in result.stdout


@needs_pdflatex
@pytest.mark.parametrize("tex", TEX_FILES, ids=[p.name for p in TEX_FILES])
def test_generated_tex_compiles_with_pdflatex(tex, tmp_path):
    result = compile_tex(tex.read_text(encoding="utf-8"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000
    assert "Overfull \\hbox" not in (tmp_path / "doc.log").read_text(errors="replace")  # \fiteq keeps math on the page


@needs_pdflatex
@pytest.mark.parametrize("spec", [
    dict(layers=[2, 3, 2], hidden="relu", output="identity", loss="mse"),
    dict(layers=[2, 2, 2], hidden="leaky_relu(0.1)", output="softmax", loss="cross_entropy"),
    dict(layers=[1, 2, 2, 1], hidden=["elu", "silu"], output="tanh", loss="sse"),
])
def test_symbolic_derivations_of_every_activation_compile(spec, tmp_path):
    net = Network(**spec)
    for param in (None, net.param_names[0]):
        result = compile_tex(derive(net, param).to_latex_document(), tmp_path)
        assert result.returncode == 0, result.stdout[-3000:]


def screenshot(html: str, workdir: Path, name: str) -> Path:
    page = workdir / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = workdir / f"{name}.png"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={workdir / 'profile'}",
         "--hide-scrollbars", "--window-size=1000,3000", f"--screenshot={png}", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and png.is_file(), result.stderr[-2000:]
    return png


def dark_rows(png: Path) -> list[int]:
    """Rows of the screenshot that contain dark pixels (ink)."""
    from PIL import Image

    image = Image.open(png).convert("L")
    width, height = image.size
    pixels = image.load()
    return [y for y in range(height) if any(pixels[x, y] < 128 for x in range(0, width, 2))]


def bands(rows: list[int]) -> int:
    """Separate horizontal bands of ink (an equation or a line of text each)."""
    return sum(1 for i, y in enumerate(rows) if i == 0 or y != rows[i - 1] + 1)


ONLY_MATH = "<style>body { color: #fff; } math { color: #000; }</style></head>"
NO_MATH = "<style>body { color: #fff; } math { visibility: hidden; }</style></head>"


@needs_chromium
@pytest.mark.parametrize("name", ["seed002_softplus_ssr.html", "seed001_sigmoid_quadratic.bn.html"])
def test_html_shows_rendered_math_offline_in_chromium(name, tmp_path):
    pytest.importorskip("PIL")
    html = (DERIVATIONS / name).read_text(encoding="utf-8")
    assert "<script" not in html  # nothing to fetch: the page is the MathML itself
    math_rows = dark_rows(screenshot(html.replace("</head>", ONLY_MATH, 1), tmp_path, "math"))
    blank_rows = dark_rows(screenshot(html.replace("</head>", NO_MATH, 1), tmp_path, "blank"))
    # with only the math inked, the page has many separate inked regions (one per equation row);
    # with the math hidden it is blank: the ink comes from rendered math and nothing else
    assert bands(math_rows) >= 15, f"only {bands(math_rows)} inked regions"
    assert len(math_rows) > 600
    assert len(blank_rows) == 0


@needs_chromium
def test_a_fraction_renders_two_dimensionally(tmp_path):
    """MathML really laid out: a display fraction is taller than a line of the same text."""
    pytest.importorskip("PIL")
    from latex2mathml.converter import convert

    def page(latex: str) -> str:
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{ONLY_MATH}<body>"
                f"{convert(latex, display='block')}</body></html>")

    flat = dark_rows(screenshot(page(r"a b"), tmp_path, "flat"))
    frac = dark_rows(screenshot(page(r"\frac{a}{b}"), tmp_path, "frac"))
    assert flat and frac
    assert max(frac) - min(frac) > 1.6 * (max(flat) - min(flat))
