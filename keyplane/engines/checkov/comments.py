"""The comments of a project's text files, for the secrets scan (KM-STO-001, Policy §6: "no
key material is in the repository").

checkov's secrets scan reads a YAML file as YAML and a file that parses as INI as INI
(detect-secrets' transformers): only the values are scanned, so key material pasted into a
comment goes unseen (a private key under `#`, an access key in `# old: AKIA...`). In any other
text file a comment is scanned as it is written, and checkov's private-key detector does not
match a PEM whose lines carry a comment marker (`# -----BEGIN ...`). `comments` gives the text
of each comment without its marker, by line, so that the scan can read it as plain text
(`keyplane.engines.checkov.secrets`).
"""

from __future__ import annotations

import re

import yaml

#: Files checkov reads as YAML (detect-secrets' `determine_file_type`).
YAML_SUFFIXES = (".yaml", ".yml", ".eyaml")
#: A line that is a comment in the languages and formats a project holds (`#` YAML, shell,
#: Python, INI; `;` INI; `//`, `/*`, `*` C-like): its text after the marker. Not `--` (a PEM's
#: armour lines start so), nor `//` without a space after it (a line of base64 may start so).
_COMMENT_LINE = re.compile(r"^\s*(?:#+|;+|//+(?=\s|$)|/\*+|\*+)\s*(?P<text>.*?)\s*(?:\*/\s*)?$")
#: What may start a comment anywhere in a text file (a file holding none of them is skipped).
_MARKERS = ("#", ";", "//", "/*", "*")


def comments(name: str, text: str) -> dict[int, str]:
    """The comments of the file `name` (for its suffix) holding `text`: line number (from 1) to
    the comment's text without its marker and surrounding spaces; lines without one, or with an
    empty one, are left out.

    A YAML file's comments are found with its syntax (a `#` inside a value is not one, and a
    comment may end a line after a value); a YAML file that does not parse is read by checkov
    as plain text, so only whole-line comments are given for it. Any other file's whole-line
    comments are given (`#`, `;`, `// `, `/*`, `*`).
    """
    if name.lower().endswith(YAML_SUFFIXES):
        found = _yaml_comments(text)
        if found is not None:
            return found
    if not any(marker in text for marker in _MARKERS):
        return {}
    lines: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _COMMENT_LINE.match(line)
        if match and match.group("text"):
            lines[number] = match.group("text")
    return lines


def _yaml_comments(text: str) -> dict[int, str] | None:
    """A YAML document's comments (see `comments`), or None when it does not parse: a `#` that
    starts a line or follows a space, outside every scalar (plain, quoted or block)."""
    if "#" not in text:
        return {}
    lines = text.splitlines()
    #: Per line (from 0), the column where scalar content ends on it (a comment starts after).
    content_until = [0] * (len(lines) + 1)
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if not isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                continue
            start, end = event.start_mark, event.end_mark
            if start is None or end is None:
                continue
            for row in range(start.line, min(end.line, len(lines) - 1) + 1):
                until = end.column if row == end.line else len(lines[row])
                content_until[row] = max(content_until[row], until)
    except yaml.YAMLError:
        return None
    found: dict[int, str] = {}
    for row, line in enumerate(lines):
        column = line.find("#", content_until[row])
        while column > 0 and not line[column - 1].isspace():
            column = line.find("#", column + 1)
        if column < 0:
            continue
        comment = line[column:].lstrip("#").strip()
        if comment:
            found[row + 1] = comment
    return found
