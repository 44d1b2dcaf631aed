"""Close every indexer a test opened (their HTTP connections), so no socket outlives its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.indexer.helpers import OPEN_INDEXERS


@pytest.fixture(autouse=True)
def _close_indexers() -> Iterator[None]:
    yield
    while OPEN_INDEXERS:
        OPEN_INDEXERS.pop().close()
