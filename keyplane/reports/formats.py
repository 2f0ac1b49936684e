"""Every output format keyplane writes, and the subset each command accepts (`--format`).

`Format` is the family; each command's enum takes its values from it, so a format is spelled
once and a command cannot offer one the reports do not know:

- `ReportFormat` (`preview`, `scan`): the six report formats of `keyplane.reports`.
- `AuditFormat` (`audit`): table, JSON, Markdown, HTML (the evidence needs a header, an object
  or a section).
- `RulesFormat` (`rules`): the catalog as a table, JSON or Markdown.
- `ValidateFormat` (`validate`): one line per finding, or JSON.
- `DiffFormat` (`diff`): a pull-request comment, or JSON.
"""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """Every format any command writes."""

    TABLE = "table"
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    HTML = "html"


class ReportFormat(StrEnum):
    """`keyplane preview` and `scan`: the findings report (`keyplane.reports.render_report`)."""

    TABLE = Format.TABLE.value
    JSON = Format.JSON.value
    SARIF = Format.SARIF.value
    JUNIT = Format.JUNIT.value
    MARKDOWN = Format.MARKDOWN.value
    HTML = Format.HTML.value


class AuditFormat(StrEnum):
    """`keyplane audit`: the findings report with the evidence."""

    TABLE = Format.TABLE.value
    JSON = Format.JSON.value
    MARKDOWN = Format.MARKDOWN.value
    HTML = Format.HTML.value


class RulesFormat(StrEnum):
    """`keyplane rules`: the catalog."""

    TABLE = Format.TABLE.value
    JSON = Format.JSON.value
    MARKDOWN = Format.MARKDOWN.value


class ValidateFormat(StrEnum):
    """`keyplane validate`: the file-level findings."""

    TEXT = Format.TEXT.value
    JSON = Format.JSON.value


class DiffFormat(StrEnum):
    """`keyplane diff`: the security-relevant changes."""

    MARKDOWN = Format.MARKDOWN.value
    JSON = Format.JSON.value
