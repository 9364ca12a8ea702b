"""Turn report sections into one self-contained HTML page and a Markdown file.

A report is a list of :class:`Section`, each a list of blocks: paragraphs,
bullet lists, figures (saved as PNG and SVG) and tables (saved as CSV and
Markdown). The HTML embeds every figure as an SVG data URI and every table
inline, with inline CSS and no script, so that the page opens offline.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmarks.io import atomic_write_text


@dataclass
class FigureBlock:
    name: str  # file stem under figures/
    caption: str
    half: bool = False  # two side by side on a wide page


@dataclass
class TableBlock:
    name: str  # file stem under tables/
    display: pd.DataFrame  # formatted strings, index shown as the first column
    caption: str
    data: pd.DataFrame | None = None  # the numbers, written as CSV (defaults to display)


@dataclass
class Section:
    title: str
    blocks: list[str | list[str] | FigureBlock | TableBlock] = field(default_factory=list)
    anchor: str = ""

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


# ---------------------------------------------------------------- number formatting
def fmt(x: float, digits: int = 3) -> str:
    """A short human-readable number: 3 significant digits, scientific outside [1e-3, 1e5)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.{digits}g}"
    return f"{x:.{digits - 1}e}"


def fmt_seconds(x: float) -> str:
    return "–" if x != x else f"{fmt(x)} s"


# ---------------------------------------------------------------- tables
def write_table(table: TableBlock, out_dir: Path) -> None:
    """``tables/<name>.csv`` (the numbers) and ``tables/<name>.md`` (the formatted table)."""
    data = table.data if table.data is not None else table.display
    atomic_write_text(out_dir / "tables" / f"{table.name}.csv", data.to_csv(index=table.data is None))
    atomic_write_text(out_dir / "tables" / f"{table.name}.md", markdown_table(table.display) + "\n")


#: a table wider than this (characters of its widest cells, the index column included) is split into
#: several tables of consecutive columns, each repeating the index column, so that it fits the page
PAGE_CHARS = 150


def column_chunks(df: pd.DataFrame, max_chars: int = PAGE_CHARS) -> list[pd.DataFrame]:
    """``df`` as consecutive column slices that each fit ``max_chars`` (at least one column per slice)."""
    width = lambda values: max((len(str(v)) for v in values), default=0) + 3  # noqa: E731  (cell + separator)
    index_w = width([df.index.name or "", *df.index])
    chunks: list[list] = [[]]
    used = index_w
    for c in df.columns:
        w = width([c, *df[c]])
        if chunks[-1] and used + w > max_chars:
            chunks.append([])
            used = index_w
        chunks[-1].append(c)
        used += w
    return [df[cols] for cols in chunks if cols] or [df]


#: a link target other than the report's own figures and tables, and a link reference definition at a line's start
_FOREIGN_LINK = re.compile(r"\]\((?!(?:figures|tables)/)")
_LINK_DEFINITION = re.compile(r"(?m)^(\s{0,3})\[(?=[^\]\n]*\]:)")


def md_safe(text: str) -> str:
    """``text`` for the Markdown report, where names, notes and errors come from results folders that may be
    someone else's: no raw HTML (``<`` and ``>`` as entities; the report's own Markdown uses none) and no link
    but to the report's figures and tables (a ``](`` elsewhere, or a ``[x]:`` definition, is escaped), so a
    name like ``<img onerror=...>`` or a ``[click](javascript:...)`` in a note is shown, never run."""
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return _LINK_DEFINITION.sub(r"\1\\[", _FOREIGN_LINK.sub(r"\\](", text))


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``df`` with its index as the first column (strings as given, made
    :func:`md_safe`); a table wider than the page is split into several (``column_chunks``), separated by a
    blank line."""
    esc = lambda s: md_safe(str(s)).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    parts = []
    for part in column_chunks(df):
        cols = [str(part.index.name or "")] + [str(c) for c in part.columns]
        lines = ["| " + " | ".join(esc(c) for c in cols) + " |", "|" + "---|" * len(cols)]
        for idx, row in part.iterrows():
            lines.append("| " + " | ".join(esc(v) for v in [idx, *row.tolist()]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def html_table(df: pd.DataFrame) -> str:
    """An HTML table of ``df`` (index first); ``**x**`` in a cell becomes bold; split as ``markdown_table``."""
    out = []
    for part in column_chunks(df):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [part.index.name or "", *part.columns])
        body = []
        for idx, row in part.iterrows():
            cells = [f"<th>{_inline(str(idx))}</th>"] + [f"<td>{_inline(str(v))}</td>" for v in row.tolist()]
            body.append("<tr>" + "".join(cells) + "</tr>")
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "".join(out)


def _inline(s: str) -> str:
    """Escape, then turn ``**bold**`` and ``code`` into tags."""
    s = html.escape(s)
    parts = s.split("**")
    s = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = s.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


# ---------------------------------------------------------------- pages
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} \
h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.meta{color:#666;font-size:.9em} nav{font-size:.9em;margin:1em 0} nav a{margin-right:1em}
figure{margin:1.2em 0} figure.half{display:inline-block;width:48%;margin-right:1.5%;vertical-align:top} \
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.88em;color:#444;margin-top:.4em} figcaption a{margin-left:.5em}
table{border-collapse:collapse;font-size:.85em;margin:.8em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right;white-space:nowrap}
thead th{background:#f4f4f4;text-align:center} tbody th{text-align:left;font-weight:600}
.caption{font-size:.88em;color:#444} code{background:#f4f4f4;padding:0 .2em}
"""


def render_html(title: str, meta_line: str, sections: list[Section], out_dir: Path) -> str:
    """The whole page; figures are read from ``out_dir/figures/<name>.svg`` and embedded as data URIs."""
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{_inline(meta_line)}</p>',
        f"<nav>{nav}</nav>",
    ]
    for sec in sections:
        parts.append(f'<section id="{sec.anchor}"><h2>{html.escape(sec.title)}</h2>')
        for b in sec.blocks:
            parts.append(_html_block(b, out_dir))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_block(b: str | list[str] | FigureBlock | TableBlock, out_dir: Path) -> str:
    if isinstance(b, str):
        return f"<p>{_inline(b)}</p>"
    if isinstance(b, list):
        return "<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b) + "</ul>"
    if isinstance(b, FigureBlock):
        svg = (out_dir / "figures" / f"{b.name}.svg").read_bytes()
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
        cls = ' class="half"' if b.half else ""
        return (
            f'<figure id="fig-{html.escape(b.name)}"{cls}>'
            f'<img src="{uri}" alt="{html.escape(b.caption)}">'
            f"<figcaption>{_inline(b.caption)}"
            f'<a href="figures/{b.name}.png">PNG</a><a href="figures/{b.name}.svg">SVG</a></figcaption></figure>'
        )
    if isinstance(b, TableBlock):
        return (
            f'<div id="tab-{html.escape(b.name)}"><p class="caption">{_inline(b.caption)} '
            f'(<a href="tables/{b.name}.csv">CSV</a>, <a href="tables/{b.name}.md">Markdown</a>)</p>'
            f"{html_table(b.display)}</div>"
        )
    raise TypeError(f"unknown report block {type(b).__name__}")


def render_markdown(title: str, meta_line: str, sections: list[Section]) -> str:
    """The same report as Markdown, linking the PNG figures (for viewing on a code host)."""
    out = [f"# {md_safe(title)}", "", md_safe(meta_line), ""]
    for sec in sections:
        out += [f"## {md_safe(sec.title)}", ""]
        for b in sec.blocks:
            if isinstance(b, str):
                out += [md_safe(b), ""]
            elif isinstance(b, list):
                out += [f"- {md_safe(str(x))}" for x in b] + [""]
            elif isinstance(b, FigureBlock):
                out += [f"![{b.name}](figures/{b.name}.png)", "", f"*{md_safe(b.caption)}*", ""]
            elif isinstance(b, TableBlock):
                out += [
                    f"{md_safe(b.caption)} ([CSV](tables/{b.name}.csv))",
                    "",
                    markdown_table(b.display),
                    "",
                ]
    return "\n".join(out).rstrip() + "\n"
