"""Regenerate the README's rule table from the registry (a test fails when it is stale)."""

from __future__ import annotations

from pathlib import Path

from keyplane.reports.catalog import README_BEGIN, README_END, rules_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> None:
    text = README.read_text()
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    README.write_text(f"{head}{README_BEGIN}\n{rules_markdown()}{README_END}{tail}")


if __name__ == "__main__":
    main()
