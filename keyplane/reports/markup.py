"""Markdown, said once: the escapers every Markdown output uses and GitHub's comment limit.

Used by the findings report (`keyplane.reports.markdown`), the diff (`keyplane.diff`), the
catalog (`keyplane.reports.catalog`) and the policy artefacts (`keyplane.artefacts`). Each
Markdown context has its own rules, so each has one function:

- `cell`: prose inside a table cell (no HTML, no pipes, no line breaks).
- `code`: text inside a single-backtick code span (in a table, pipes still end the cell).
- `line`: prose on one line of a list item.
"""

from __future__ import annotations

import html

#: GitHub's limit on an issue or pull-request comment, in characters.
COMMENT_LIMIT = 65_536
#: One table cell never takes more than this, in characters (a runaway message must not crowd
#: out the rest).
CELL_LIMIT = 2_000


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no HTML, no pipes, no line breaks; surrounding
    whitespace (insignificant in a cell) dropped; cut to `CELL_LIMIT` characters."""
    text = text.strip()
    if len(text) > CELL_LIMIT:
        text = text[: CELL_LIMIT - 1] + "…"
    escaped = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def code(text: str, *, in_table: bool = False) -> str:
    """Text inside a single-backtick code span: backticks would close it, and in a table a pipe
    ends the cell even inside one (GitHub then drops the backslash)."""
    text = text.replace("`", "'")
    if in_table:
        text = " ".join(text.split("\n")).strip().replace("|", "\\|")
    return text


def line(text: str) -> str:
    """Prose kept on one line of a list item: backslashes and pipes escaped, breaks as spaces."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def inline(text: str) -> str:
    """Prose outside a table: HTML escaped (GitHub would render tags)."""
    return html.escape(text, quote=False)
