"""Rendering for real: every generated .tex compiles (pdflatex; lualatex for Bengali) and reads back with
legible type (pdftotext -bbox); the HTML, in headless Chromium, shows MathML offline, aligns the "=" of
aligned rows, and sets English pages in a Latin font."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from symprop import Network
from symprop.derivation import derive, derive_problem
from symprop.derivation.document import resolve
from symprop.problem import load_problem

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"
TEX_FILES = sorted(p for p in DERIVATIONS.glob("*.tex") if not p.name.endswith(".bn.tex"))
BN_TEX_FILES = sorted(DERIVATIONS.glob("*.bn.tex"))
HTML_FILES = sorted(DERIVATIONS.glob("*.html"))
PDFLATEX = shutil.which("pdflatex")
LUALATEX = shutil.which("lualatex")
PDFTOTEXT = shutil.which("pdftotext")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None or PDFTOTEXT is None,
    reason=(
        "pdflatex or pdftotext not installed (Debian: texlive-latex-base texlive-latex-recommended texlive-pictures "
        "poppler-utils; .ci/run installs them)"
    ),
)
needs_lualatex = pytest.mark.skipif(
    LUALATEX is None or PDFTOTEXT is None,
    reason=(
        "lualatex or pdftotext not installed (Debian: texlive-luatex fonts-lohit-beng-bengali poppler-utils; "
        ".ci/run installs them)"
    ),
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian: chromium; .ci/run installs it)"
)
#: the smallest legible word height (pt) in a 10 pt document: second-level scripts are 5 pt; a squeezed
#: equation (the old \resizebox) gave 1.6 pt
MIN_HEIGHT = 4.0


def compile_tex(
    source: str, workdir: Path, name: str = "doc", engine: str | None = PDFLATEX
) -> subprocess.CompletedProcess:
    tex = workdir / f"{name}.tex"
    tex.write_text(source, encoding="utf-8")
    return subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )


def word_heights(pdf: Path) -> list[tuple[float, str]]:
    """(height in pt, word) of every word of the PDF, by pdftotext -bbox."""
    out = subprocess.run(
        [PDFTOTEXT, "-bbox", pdf.name, "-"], cwd=pdf.parent, capture_output=True, text=True, check=True
    ).stdout
    return [
        (float(m.group(2)) - float(m.group(1)), m.group(3))
        for m in re.finditer(
            r'<word xMin="[0-9.]+" yMin="([0-9.]+)" xMax="[0-9.]+" yMax="([0-9.]+)">([^<]*)</word>', out
        )
    ]


def assert_legible(workdir: Path, result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:]
    log = (workdir / "doc.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log, "an equation is wider than the page"
    assert "Missing character" not in log
    words = word_heights(workdir / "doc.pdf")
    assert len(words) > 100
    small = [(round(h, 2), w) for h, w in words if h < MIN_HEIGHT]
    assert not small, f"{len(small)} words set below {MIN_HEIGHT} pt: {small[:10]}"


def test_no_equation_is_scaled():
    for tex in TEX_FILES + BN_TEX_FILES:
        text = tex.read_text(encoding="utf-8")
        assert "resizebox" not in text and "scalebox" not in text and "fiteq" not in text, tex.name


@needs_pdflatex
@pytest.mark.parametrize("tex", TEX_FILES, ids=[p.name for p in TEX_FILES])
def test_generated_tex_compiles_with_pdflatex_and_reads_back_legibly(tex, tmp_path):
    assert_legible(tmp_path, compile_tex(tex.read_text(encoding="utf-8"), tmp_path))


@needs_lualatex
@pytest.mark.parametrize("tex", BN_TEX_FILES, ids=[p.name for p in BN_TEX_FILES])
def test_generated_bengali_tex_compiles_with_lualatex_legibly_and_keeps_its_text(tex, tmp_path):
    """Every glyph found in a font, and the PDF's text has each step's Bengali title words."""
    result = compile_tex(tex.read_text(encoding="utf-8"), tmp_path, engine=LUALATEX)
    assert_legible(tmp_path, result)
    text = subprocess.run([PDFTOTEXT, "doc.pdf", "-"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    def squeeze(s: str) -> str:  # pdftotext may put spaces inside shaped words and writes য় as one code point
        return unicodedata.normalize("NFD", "".join(s.split()))

    steps = derive_problem(load_problem(tex.with_name(tex.name.replace(".bn.tex", ".toml")))).steps
    for step in steps:
        for kind, words in resolve(step.heading, "bn"):
            if kind == "text" and words.strip():
                assert squeeze(words) in squeeze(text), words


@needs_lualatex
def test_bengali_document_without_a_bengali_font_says_so(tmp_path):
    from symprop.derivation import BENGALI_FONTS

    document = derive(Network([1, 1], hidden="identity", output="identity")).to_latex_document("bn")
    for font in BENGALI_FONTS:  # make every font name unknown
        document = document.replace(f"{{{font}}}", f"{{{font} Missing}}")
    result = compile_tex(document, tmp_path, engine=LUALATEX)
    assert result.returncode != 0
    assert "No Bengali font found" in result.stdout


def _three_layer():
    rng = np.random.default_rng(3)
    net = Network([3, 4, 4, 3, 2], hidden=["tanh", "relu", "sigmoid"], output="softmax", loss="cross_entropy")
    values = {n: float(rng.normal()) for n in net.param_names}
    X = rng.normal(size=(4, 3))
    Y = np.eye(2)[[0, 1, 1, 0]]
    return net, values, X, Y


@needs_pdflatex
@pytest.mark.parametrize("param", [None, "w3_2_1", "b4_1"])
def test_a_generated_three_layer_derivation_is_legible(param, tmp_path):
    net, values, X, Y = _three_layer()
    d = derive(net, param, values, X, Y, lr=0.1, title="A 3-4-4-3-2 network")
    assert_legible(tmp_path, compile_tex(d.to_latex_document(), tmp_path))


@needs_lualatex
def test_a_generated_three_layer_derivation_is_legible_in_bengali(tmp_path):
    net, values, X, Y = _three_layer()
    d = derive(net, "w3_2_1", values, X, Y, lr=0.1)
    assert_legible(tmp_path, compile_tex(d.to_latex_document("bn"), tmp_path, engine=LUALATEX))


@needs_pdflatex
@pytest.mark.parametrize(
    "spec",
    [
        dict(layers=[2, 3, 2], hidden="relu", output="identity", loss="mse"),
        dict(layers=[2, 2, 2], hidden="leaky_relu(0.1)", output="softmax", loss="cross_entropy"),
        dict(layers=[1, 2, 2, 1], hidden=["elu", "silu"], output="tanh", loss="sse"),
    ],
)
def test_symbolic_derivations_of_every_activation_compile(spec, tmp_path):
    net = Network(**spec)
    for param in (None, net.param_names[0]):
        result = compile_tex(derive(net, param, code=True).to_latex_document(), tmp_path)
        assert result.returncode == 0, result.stdout[-3000:]


# ----------------------------------------------------------------------------- HTML in Chromium


def chromium(args: list[str], workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={workdir / 'profile'}",
            "--hide-scrollbars",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def screenshot(html: str, workdir: Path, name: str) -> Path:
    page = workdir / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = workdir / f"{name}.png"
    result = chromium(["--window-size=1000,3000", f"--screenshot={png}", page.as_uri()], workdir)
    assert result.returncode == 0 and png.is_file(), result.stderr[-2000:]
    return png


#: measured in the page by Chromium itself: the x of every "=" of each aligned equation, and the
#: width of English text in the page's font against the same text in the Latin and the Bengali font
MEASURE = """<script>
window.addEventListener('load', () => {
  const eqs = [...document.querySelectorAll('.eq')].map(eq =>
    [...eq.querySelectorAll('.rel')].filter(r => r.textContent.trim())
      .map(r => r.getBoundingClientRect().right));
  const probe = (family) => { const s = document.createElement('span'); s.textContent = 'Backpropagation 0123456789 xyz';
    if (family) s.style.fontFamily = family; s.style.fontSize = '40px'; document.body.appendChild(s);
    const w = s.getBoundingClientRect().width; s.remove(); return w; };
  const out = {eqs, page: probe(null), latin: probe('"DejaVu Serif"'), bengali: probe('"Lohit Bengali"'),
               family: getComputedStyle(document.body).fontFamily};
  const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body>"""


def measure_page(html: str, workdir: Path) -> dict:
    page = workdir / "page.html"
    page.write_text(html.replace("</body>", MEASURE, 1), encoding="utf-8")
    result = chromium(["--window-size=1200,2000", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()], workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    m = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    assert m, result.stdout[-2000:]
    return json.loads(m.group(1).replace("&quot;", '"'))


@needs_chromium
@pytest.mark.parametrize("page", HTML_FILES, ids=[p.name for p in HTML_FILES])
def test_html_aligns_the_equals_signs_and_sets_english_in_a_latin_font(page, tmp_path):
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html  # nothing to fetch or run: the page is MathML and SVG
    measured = measure_page(html, tmp_path)
    aligned = [xs for xs in measured["eqs"] if len(xs) > 1]
    assert aligned, "no aligned equations measured"
    for xs in aligned:
        assert max(xs) - min(xs) < 1.0, f"the = signs of an aligned equation are at x = {xs}"
    # the page font sets English text exactly as the Latin font does, not as the Bengali one
    assert abs(measured["page"] - measured["latin"]) < 0.5, measured
    assert abs(measured["page"] - measured["bengali"]) > 5, measured


@needs_chromium
def test_html_of_a_generated_three_layer_derivation_aligns(tmp_path):
    net, values, X, Y = _three_layer()
    measured = measure_page(derive(net, "w3_2_1", values, X, Y, lr=0.1).to_html(), tmp_path)
    for xs in (xs for xs in measured["eqs"] if len(xs) > 1):
        assert max(xs) - min(xs) < 1.0


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


ONLY_MATH = "<style>body { color: #fff; } math { color: #000; } svg { visibility: hidden; }</style></head>"
NO_MATH = (
    "<style>body { color: #fff; } math { visibility: hidden; } svg { visibility: hidden; } "
    "thead th { border-color: #fff; }</style></head>"
)


@needs_chromium
@pytest.mark.parametrize("name", ["seed002_softplus_ssr.html", "seed001_sigmoid_quadratic.bn.html"])
def test_html_shows_rendered_math_offline_in_chromium(name, tmp_path):
    pytest.importorskip("PIL")
    html = (DERIVATIONS / name).read_text(encoding="utf-8")
    math_rows = dark_rows(screenshot(html.replace("</head>", ONLY_MATH, 1), tmp_path, "math"))
    blank_rows = dark_rows(screenshot(html.replace("</head>", NO_MATH, 1), tmp_path, "blank"))
    assert bands(math_rows) >= 15, f"only {bands(math_rows)} inked regions"
    assert len(math_rows) > 600
    assert len(blank_rows) == 0


@needs_chromium
def test_the_figure_is_drawn_inline(tmp_path):
    pytest.importorskip("PIL")
    html = (DERIVATIONS / "seed001_sigmoid_quadratic.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 1 and "<img" not in html
    only_figure = (
        "<style>body { color: #fff; } math { visibility: hidden; } table { visibility: hidden; }</style></head>"
    )
    rows = dark_rows(screenshot(html.replace("</head>", only_figure, 1), tmp_path, "figure"))
    assert len(rows) > 150  # neurons, connections and labels


@needs_chromium
def test_bold_ones_vector_and_header_rule_survive_in_html():
    html = (DERIVATIONS / "seed001_sigmoid_quadratic.html").read_text(encoding="utf-8")
    assert "\U0001d7cf" in html  # the ones-vector as the bold digit one (Chromium ignores mathvariant="bold")
    assert 'mathvariant="bold"' not in html
    assert "thead th { border-bottom" in html


@needs_pdflatex
def test_special_characters_in_a_title_and_a_small_tolerance_survive_in_the_pdf(tmp_path):
    from symprop.examples import SEED_002

    d = derive(
        SEED_002.network,
        "b3",
        SEED_002.values,
        SEED_002.X,
        SEED_002.Y,
        lr=0.1,
        tol=1e-6,
        title="Line one\n\nline two: a \\ b, x^2, 50% & $5 #1 a_b {c} ~d",
        description="First.\n\nSecond.",
    )
    result = compile_tex(d.to_latex_document(), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    text = subprocess.run([PDFTOTEXT, "doc.pdf", "-"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "Line one line two: a \\ b, x^2, 50% & $5 #1 a_b {c} ~d" in " ".join(text.split())
    assert "\\{}" not in text and "{}times" not in text and "\\times" not in text  # typeset as 1 x 10^-6
    assert "10−6" in text.replace(" ", "") or "10-6" in text.replace(" ", "")


@needs_pdflatex
@pytest.mark.parametrize("N", [5, 20])
def test_a_4_8_8_3_derivation_fits_at_normal_size(N, tmp_path):
    """8 columns of 6-digit numbers are wider than a portrait line: the matrices are split into blocks of
    columns continued on the next line (the page stays portrait, nothing is scaled); 20 samples make sums
    that break inside a bracket, closed and reopened on every line."""
    rng = np.random.default_rng(0)
    net = Network([4, 8, 8, 3], hidden="tanh", output="softmax", loss="cross_entropy")
    values = {n: float(rng.normal(scale=0.5)) for n in net.param_names}
    X = rng.normal(size=(N, 4))
    Y = np.eye(3)[rng.integers(0, 3, size=N)]
    document = derive(net, "w2_1_1", values, X, Y, lr=0.1).to_latex_document()
    assert "landscape" not in document
    assert r"\right." in document and r"\left." in document  # a split matrix or a broken bracket
    assert_legible(tmp_path, compile_tex(document, tmp_path))
    words = subprocess.run(
        [PDFTOTEXT, "-bbox", "doc.pdf", "-"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    page = re.search(r'<page width="([0-9.]+)" height="([0-9.]+)"', words)
    assert float(page.group(1)) < float(page.group(2)), "the page is portrait"
