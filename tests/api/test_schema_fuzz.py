"""The OpenAPI document is the truth: schemathesis fuzzes every JSON operation of the real app.

The app runs under uvicorn on 127.0.0.1 with a real chain (the session's anvil, three months of two
regions' history, as ``test_api`` builds it) indexed into a real SQLite file, so the routes that
read or write the chain reach it. For each
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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
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

from api.app import create_app
from ledger.auth import create_api_key
from ledger.chain.deploy import save_deployment
from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.settings import Settings
from tests.indexer.helpers import make_indexer
from tests.indexer.test_indexer import TATEYAMA, build_history

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def server(anvil_devnet: AnvilDevnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The API under uvicorn on 127.0.0.1 with its chain: the session's anvil (reverted afterwards)
    holding three months of two regions' history, indexed into a SQLite file."""
    snapshot = anvil_devnet.snapshot()
    path: Path = tmp_path_factory.mktemp("fuzz") / "index.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    history = build_history(anvil_devnet, months=3)
    indexer = make_indexer(anvil_devnet, history.deployment, engine)
    indexer.backfill()
    indexer.close()
    with engine.begin() as conn:
        operator, _ = create_api_key(conn, "operator", "館山 staff", TATEYAMA)
    save_deployment(path.parent / "deployments", history.deployment)
    settings = Settings(
        db={"url": url},
        api={"max_body_bytes": 4096},
        chain={"backend": "rpc", "rpc_url": anvil_devnet.rpc_url, "deployments_dir": path.parent / "deployments"},
        checkin={"secret": "s" * 32},
    )
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", {"operator": operator}
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
        anvil_devnet.revert(snapshot)
        # The revert also takes the chain's clock back to the snapshot (the fuzz ran for a minute or
        # more): bring it to the wall clock, which later tests that open activities "now" rely on.
        latest = int(anvil_devnet.w3.eth.get_block("latest")["timestamp"])
        if latest < int(time.time()):
            anvil_devnet.set_next_block_timestamp(int(time.time()))
            anvil_devnet.mine()


def _fuzz(base: str, headers: dict[str, str]) -> list[str]:
    config = SchemathesisConfig()
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=config)
    schema.config.base_url = base
    # 503 is documented (chain_unavailable, not_deployed, not_indexed); any other 5xx is a failure.
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
@pytest.mark.anvil
def test_the_document_holds_without_a_key(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    failures = _fuzz(base, {})
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@pytest.mark.anvil
def test_the_document_holds_with_an_operator_key(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    failures = _fuzz(base, {"Authorization": f"Bearer {keys['operator']}"})
    assert not failures, "\n\n".join(failures)
