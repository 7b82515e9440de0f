"""The table contract: every table's and view's columns with their types and meanings, in one file.

`sql/contract.md` (package data) is the source. The Dagster assets read their column descriptions
from it, and README.md's "Table contract" section is generated from it
(`python -m pipelines.load.contract`, run by `make contract`); a test fails when they differ.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CONTRACT = resources.files("pipelines.load") / "sql" / "contract.md"
README_SECTION = "### Table contract"
_TABLE = re.compile(r"^#### (\w+\.\w+)\n(.*?)(?=^#### |\Z)", re.DOTALL | re.MULTILINE)
_ROW = re.compile(r"^\| (\w+) \| ([A-Z][A-Z\[\]]*) \| (.*) \|$", re.MULTILINE)


@dataclass(frozen=True)
class Column:
    """One documented column."""

    name: str
    type: str
    meaning: str


def contract_text() -> str:
    """The contract as markdown (the README section's body)."""
    return CONTRACT.read_text(encoding="utf-8")


def documented_columns(text: str | None = None) -> dict[str, list[Column]]:
    """Columns by qualified table name (e.g. `analytics.trigger_mix`), in documented order."""
    tables: dict[str, list[Column]] = {}
    for name, body in _TABLE.findall(contract_text() if text is None else text):
        tables[name] = [Column(*row) for row in _ROW.findall(body) if row[0] != "column"]
    return tables


def readme_with_contract(readme: str) -> str:
    """README.md's text with its table contract section replaced by the contract."""
    start = readme.index(README_SECTION)
    body = readme.index("\n", start) + 1
    end = readme.find("\n### ", body)
    end = len(readme) if end < 0 else end + 1
    return readme[:body] + "\n" + contract_text().strip("\n") + "\n\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    """Rewrite README.md's table contract from the contract file."""
    readme = Path(argv[0] if argv else "README.md")
    text = readme.read_text(encoding="utf-8")
    updated = readme_with_contract(text)
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
        print(f"{readme}: table contract regenerated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
