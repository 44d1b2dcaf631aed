"""The OpenAPI document is the truth: schemathesis fuzzes every JSON operation of the real app.

The app runs under uvicorn on 127.0.0.1 over a real index of a real chain (the ``server`` fixture
of ``test_api``: a py-evm devnet with three months of history, indexed into a SQLite file). For each
operation, schemathesis generates requests that fit the document (positive) and requests that do
not (negative), without a key and with the 館山市 operator key, and four checks must never fail:

- ``not_a_server_error``: no 5xx other than the documented 503s (chain or deployment unavailable);
- ``status_code_conformance``: every status the app answers is documented for the operation;
- ``response_schema_conformance``: every body matches its documented schema (errors included);
- ``negative_data_rejection``: a request that breaks the document is refused (4xx), never served.

The run is bounded (``MAX_EXAMPLES`` per operation and mode, no shrinking, derandomized) so it takes
a couple of minutes on two cores; every failure of every operation is reported together.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    NegativeDataRejectionConfig,
    NotAServerErrorConfig,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.test_api import server

__all__ = ["server"]

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, negative_data_rejection]


def _fuzz(base: str, headers: dict[str, str]) -> list[str]:
    config = SchemathesisConfig()
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=config)
    schema.config.base_url = base
    # 503 is documented (chain_unavailable, not_deployed, not_indexed): the server of this test has no
    # chain node at its RPC URL, so the routes that need one answer it; any other 5xx is a failure.
    schema.config.checks.not_a_server_error = NotAServerErrorConfig(expected_statuses=["2xx", "3xx", "4xx", "503"])
    # A request outside the document may be refused for its size first (413 too_large, documented).
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
        expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
    )
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures.extend(_fuzz_operation(operation, mode, base, headers))
    return failures


def _fuzz_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any], mode: GenerationMode, base: str, headers: dict[str, str]
) -> list[str]:
    """Up to three failures of one operation in one mode (none when it holds)."""
    found: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        try:
            case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)
        except FailureGroup as exc:
            if len(found) < 3:
                found.append(f"{operation.label} [{mode.value}]: {exc}")

    with contextlib.suppress(Unsatisfiable):  # nothing to break: an operation without parameters or body
        run()
    return found


@pytest.mark.slow
def test_the_document_holds_without_a_key(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    failures = _fuzz(base, {})
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_the_document_holds_with_an_operator_key(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    failures = _fuzz(base, {"Authorization": f"Bearer {keys['operator']}"})
    assert not failures, "\n\n".join(failures)
