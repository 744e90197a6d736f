"""The network figure: neurons, connections, shapes on the layers, the differentiated paths highlighted.

Pure text generation from the layer sizes: TikZ for LaTeX (pdflatex and lualatex), and SVG for HTML
(inline) and Markdown (a file beside the page). Deterministic: no dates, no random ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

DX, DY, R = 3.3, 1.15, 0.36  # column spacing, row spacing, neuron radius (cm)
PX = 48  # SVG pixels per cm
HIGHLIGHT, NORMAL, FILL = "#c0392b", "#9a9a9a", "#fdecea"


@dataclass(frozen=True)
class Diagram:
    """Layer sizes (n_0, ..., n_L), the loss symbol, and what to highlight.

    ``edges`` are (l, j, k): the weight of layer l from neuron k of layer l-1 to neuron j of layer l;
    ``nodes`` are (l, j); ``loss`` highlights the arrow into the loss.
    """

    layers: tuple[int, ...]
    loss_label: tuple[str, str]  # (LaTeX, plain text) of the loss symbol
    edges: frozenset = field(default_factory=frozenset)
    nodes: frozenset = field(default_factory=frozenset)
    highlight_loss: bool = False

    def position(self, l: int, j: int) -> tuple[float, float]:
        n = self.layers[l]
        return l * DX, ((n - 1) / 2 - j) * DY

    @property
    def height(self) -> float:
        return (max(self.layers) - 1) * DY

    def label(self, l: int, j: int) -> tuple[str, str, str]:
        """(base, superscript, subscript) of a neuron's label."""
        if l == 0:
            return "x", "", str(j + 1)
        return "a", f"[{l}]", str(j + 1)


def highlight(layers: tuple[int, ...], layer: int, row: int, col: int | None) -> tuple[frozenset, frozenset]:
    """The edges and nodes on every path from the parameter (W^{[layer]}[row, col], or b when col is
    None) to the loss: its own connection, its neuron, then every later neuron and connection."""
    edges, nodes = set(), {(layer, row)}
    if col is not None:
        edges.add((layer, row, col))
        nodes.add((layer - 1, col))
    reach = {row}
    for l in range(layer + 1, len(layers)):
        for j in range(layers[l]):
            for k in reach:
                edges.add((l, j, k))
        reach = set(range(layers[l]))
        nodes.update((l, j) for j in reach)
    return frozenset(edges), frozenset(nodes)


# ----------------------------------------------------------------------------- TikZ


def _tikz_label(base: str, sup: str, sub: str) -> str:
    sup_part = f"^{{{sup}}}" if sup else ""
    return f"${base}{sup_part}_{{{sub}}}$"


def to_tikz(d: Diagram) -> str:
    L = len(d.layers) - 1
    top = d.height / 2
    size = f"{2 * R + 0.22:.2f}cm"
    lines = [
        r"\begin{tikzpicture}[x=1cm, y=1cm, neuron/.style={circle, draw, minimum size=" + size + ", inner sep=0pt}]"
    ]
    for l in range(1, L + 1):  # connections first, highlighted ones last (drawn on top)
        for hot in (False, True):
            for j in range(d.layers[l]):
                for k in range(d.layers[l - 1]):
                    if ((l, j, k) in d.edges) != hot:
                        continue
                    (x0, y0), (x1, y1) = d.position(l - 1, k), d.position(l, j)
                    style = "draw={rgb,255:red,192;green,57;blue,43}, line width=1.4pt" if hot else "draw=gray!70"
                    lines.append(rf"\draw[{style}] ({x0 + R + 0.11:.2f},{y0:.2f}) -- ({x1 - R - 0.11:.2f},{y1:.2f});")
    for l, n in enumerate(d.layers):
        for j in range(n):
            x, y = d.position(l, j)
            hot = (l, j) in d.nodes
            style = (
                "neuron, draw={rgb,255:red,192;green,57;blue,43}, line width=1.2pt, fill={rgb,255:red,253;green,236;blue,234}"
                if hot
                else "neuron"
            )
            lines.append(rf"\node[{style}] at ({x:.2f},{y:.2f}) {{{_tikz_label(*d.label(l, j))}}};")
        x = l * DX
        shape = rf"x \in \mathbb{{R}}^{{{n}}}" if l == 0 else rf"a^{{[{l}]}} \in \mathbb{{R}}^{{{n}}}"
        lines.append(rf"\node at ({x:.2f},{-top - 0.9:.2f}) {{${shape}$}};")
        if l:
            lines.append(
                rf"\node at ({x - DX / 2:.2f},{top + 0.85:.2f}) "
                rf"{{$W^{{[{l}]}} \in \mathbb{{R}}^{{{n} \times {d.layers[l - 1]}}}$}};"
            )
    xl = L * DX + 2.1
    lines.append(rf"\node[draw, rounded corners, inner sep=4pt] (loss) at ({xl:.2f},0) {{${d.loss_label[0]}$}};")
    for j in range(d.layers[L]):
        x, y = d.position(L, j)
        hot = d.highlight_loss and (L, j) in d.nodes  # only the outputs the paths go through
        style = "draw={rgb,255:red,192;green,57;blue,43}, line width=1.4pt, ->" if hot else "draw=gray!70, ->"
        lines.append(rf"\draw[{style}] ({x + R + 0.11:.2f},{y:.2f}) -- (loss.west);")
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- SVG


def _svg_label(x: float, y: float, base: str, sup: str, sub: str, size: int = 15) -> str:
    small = round(size * 0.72)
    sup_part = f'<tspan dy="-6" font-size="{small}" font-style="normal">{escape(sup)}</tspan>' if sup else ""
    # the subscript sits under the superscript: move back by the superscript's advance
    back = f' dx="-{0.47 * small * len(sup):.1f}"' if sup else ""
    sub_part = f'<tspan dy="{12 if sup else 5}"{back} font-size="{small}" font-style="normal">{escape(sub)}</tspan>'
    return (
        f'<text x="{x - (3 if sup else 0):.1f}" y="{y + (3 if sup else 5):.1f}" text-anchor="middle" font-size="{size}" '
        f'font-style="italic">{escape(base)}{sup_part}{sub_part}</text>'
    )


def to_svg(d: Diagram) -> str:
    L = len(d.layers) - 1
    top = d.height / 2
    width_cm = L * DX + 2.1 + 1.2 + 2 * 0.9
    height_cm = d.height + 2 * 1.45
    ox, oy = 0.9, top + 1.45  # the origin of the layout in the picture

    def px(x: float, y: float) -> tuple[float, float]:
        return (x + ox) * PX, (oy - y) * PX

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_cm * PX:.0f}" height="{height_cm * PX:.0f}" '
        f'viewBox="0 0 {width_cm * PX:.0f} {height_cm * PX:.0f}" font-family="DejaVu Serif, Latin Modern Roman, '
        f'serif" role="img" aria-label="network {"-".join(map(str, d.layers))}">',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    for l in range(1, L + 1):
        for hot in (False, True):
            for j in range(d.layers[l]):
                for k in range(d.layers[l - 1]):
                    if ((l, j, k) in d.edges) != hot:
                        continue
                    (x0, y0), (x1, y1) = d.position(l - 1, k), d.position(l, j)
                    a, b = px(x0 + R, y0)
                    c, e = px(x1 - R, y1)
                    stroke = (
                        f'stroke="{HIGHLIGHT}" stroke-width="3"' if hot else f'stroke="{NORMAL}" stroke-width="1.2"'
                    )
                    out.append(f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{e:.1f}" {stroke}/>')
    for l, n in enumerate(d.layers):
        for j in range(n):
            x, y = px(*d.position(l, j))
            hot = (l, j) in d.nodes
            style = (
                f'fill="{FILL}" stroke="{HIGHLIGHT}" stroke-width="2.6"'
                if hot
                else 'fill="#ffffff" stroke="#333333" stroke-width="1.4"'
            )
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{R * PX:.1f}" {style}/>')
            out.append(_svg_label(x, y, *d.label(l, j)))
        x, y = px(l * DX, -top - 0.95)
        if l == 0:
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="15">'
                f'<tspan font-style="italic">x</tspan> ∈ ℝ<tspan dy="-6" font-size="11">{n}</tspan></text>'
            )
        else:
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="15">'
                f'<tspan font-style="italic">a</tspan><tspan dy="-6" font-size="11">[{l}]</tspan>'
                f'<tspan dy="6"> ∈ ℝ</tspan><tspan dy="-6" font-size="11">{n}</tspan></text>'
            )
            x, y = px(l * DX - DX / 2, top + 0.85)
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="15">'
                f'<tspan font-style="italic">W</tspan><tspan dy="-6" font-size="11">[{l}]</tspan>'
                f'<tspan dy="6"> ∈ ℝ</tspan><tspan dy="-6" font-size="11">{n}×{d.layers[l - 1]}</tspan></text>'
            )
    lx, ly = px(L * DX + 2.1, 0)
    label = d.loss_label[1]
    box = 14 + 9.5 * len(label)
    for j in range(d.layers[L]):
        a, b = px(d.position(L, j)[0] + R, d.position(L, j)[1])
        hot = d.highlight_loss and (L, j) in d.nodes
        stroke = f'stroke="{HIGHLIGHT}" stroke-width="3"' if hot else f'stroke="{NORMAL}" stroke-width="1.2"'
        out.append(f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{lx - box / 2:.1f}" y2="{ly:.1f}" {stroke}/>')
    out.append(
        f'<rect x="{lx - box / 2:.1f}" y="{ly - 15:.1f}" width="{box:.1f}" height="30" rx="6" '
        f'fill="#ffffff" stroke="#333333" stroke-width="1.4"/>'
    )
    out.append(f'<text x="{lx:.1f}" y="{ly + 5:.1f}" text-anchor="middle" font-size="15">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
