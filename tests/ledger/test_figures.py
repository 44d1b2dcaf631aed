"""The catalogue of figure definitions is complete and documented: every id has both labels and both
definitions, the dashboard's ``definitions`` are the catalogue, and docs/api.md lists it exactly."""

from __future__ import annotations

from pathlib import Path

from ledger import queries
from ledger.figures import FIGURES, definitions

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_figure_has_labels_and_definitions_in_both_languages() -> None:
    for figure_id, figure in FIGURES.items():
        assert figure.id == figure_id
        assert figure.label_ja and figure.label_en and figure.definition_ja and figure.definition_en
    assert definitions() == {k: {"ja": ja, "en": en} for k, (ja, en) in queries.FIGURE_DEFINITIONS.items()}


def test_docs_api_lists_the_catalogue_exactly() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Definitions of the figures") : text.index("## Speed")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {line.split("`")[1]: line for line in rows}
    assert list(documented) == list(FIGURES)
    for figure_id, figure in FIGURES.items():
        assert f"| {figure.definition_ja} | {figure.definition_en} |" in documented[figure_id]


def test_the_definitions_state_the_bounds_the_queries_use() -> None:
    """The audit's and the status line's definitions name the numbers the code uses (one place each:
    ``REVOCATIONS_SHOWN``, ``BACKLOG_CAP``), so changing a bound without its definition fails here."""
    audit, index = FIGURES["audit"], FIGURES["index"]
    assert f"最大{queries.REVOCATIONS_SHOWN}件" in audit.definition_ja
    assert f"the newest {queries.REVOCATIONS_SHOWN}" in audit.definition_en
    assert queries.backlog_text(queries.BACKLOG_CAP, "ja") in index.definition_ja
    assert queries.backlog_text(queries.BACKLOG_CAP, "en") in index.definition_en
