"""One document, two renderings: Markdown for the repository and HTML for the Snakemake report.

A document is a list of blocks: a string (a "# " heading, a paragraph, or lines starting "- " for
a list) or a `Table`. Both renderings come from the same blocks, so the report's HTML table and the
Markdown file cannot disagree.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from rsnn_decoding.fsutil import atomic_output

STYLE = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.2em;color:#222;font-size:14px}
table{border-collapse:collapse;margin:0.8em 0}th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}
td{white-space:nowrap}th{background:#eee}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}p,li{max-width:70em;line-height:1.4}
code{background:#f3f3f3;padding:0 3px}"""


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]


Block = str | Table


def to_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub Markdown."""
    parts = []
    for block in blocks:
        if isinstance(block, Table):
            parts.append(tabulate([list(r) for r in block.rows], headers=list(block.header), tablefmt="github",
                                  disable_numparse=True))
        else:
            parts.append(block)
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _html_block(block: Block) -> str:
    """One block as HTML."""
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n"
                       for row in block.rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"
    heading = re.match(r"^(#{1,6}) (.*)$", block)
    if heading and "\n" not in block:
        level = len(heading.group(1))
        return f"<h{level}>{_inline(heading.group(2))}</h{level}>"
    lines = block.splitlines()
    if lines and all(ln.startswith("- ") for ln in lines):
        return "<ul>\n" + "\n".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines) + "\n</ul>"
    return "<p>" + "<br>\n".join(_inline(ln) for ln in lines) + "</p>"


def to_html(blocks: Sequence[Block], title: str) -> str:
    """The blocks as a standalone HTML page."""
    body = "\n".join(_html_block(b) for b in blocks if b)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}'
            f"</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_document(blocks: Sequence[Block], title: str, markdown_path: str | os.PathLike | None = None,
                   html_path: str | os.PathLike | None = None) -> None:
    """Write the Markdown and/or HTML rendering, each atomically."""
    if markdown_path is not None:
        with atomic_output(markdown_path) as tmp:
            tmp.write_text(to_markdown(blocks), encoding="utf-8")
    if html_path is not None:
        with atomic_output(html_path) as tmp:
            tmp.write_text(to_html(blocks, title), encoding="utf-8")
