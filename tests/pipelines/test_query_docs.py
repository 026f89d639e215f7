"""Specification of docs/tables.md: its reference is the one generated from the catalog and the saved queries, so
it lists every column of every table and every saved query as the code has them."""
from __future__ import annotations

from pathlib import Path

from processing.catalog import TABLES
from processing.queries import REFERENCE_END, REFERENCE_START, SAVED_QUERIES, reference_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "tables.md"


def generated_part() -> str:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(REFERENCE_START), text.index(REFERENCE_END) + len(REFERENCE_END)
    return text[start:end] + "\n"


def test_the_doc_holds_the_reference_generated_from_the_code_as_it_is_now():
    assert generated_part() == reference_markdown(), "regenerate it: python -m processing.queries"


def test_the_doc_lists_every_column_of_every_table_in_that_table_s_section_with_its_type():
    sections = generated_part().split("\n### ")
    for name, table in TABLES.items():
        section = next(part for part in sections if part.startswith(f"{name}\n"))
        for column in table.columns:
            assert f"| `{column.name}` | {column.type} | " in section, (name, column.name)
        assert f"| `{table.partition}` | string | partition: " in section


def test_the_doc_gives_every_saved_query_s_sql_and_parameters():
    text = generated_part()
    for query in SAVED_QUERIES.values():
        assert f"### {query.name}\n" in text and f"```sql\n{query.sql}\n```" in text
        for item in query.parameters:
            assert f"- `{item.name}` ({item.type}, " in text
