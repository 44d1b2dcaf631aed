"""What each process tells Prometheus (the maintained ``prometheus-client``): one place that names
every metric, so the API, the relayer and the indexer count the same things the same way.

Two kinds of figures:

- **Counted in the process** (counters and gauges below): requests and their latency by route (the
  API's middleware), claims accepted and refused by the intake, batches landed with their gas and
  fees, broadcasts, nonce gaps repaired and lease hand-overs (the relayer), the indexer's head,
  checkpoint, lag and logs. Each process counts its own; Prometheus sums the API processes.
- **Read from the database at scrape time** (:class:`DatabaseCollector`): the outbox's depth by
  state, open batches, the derived-table backlog, each loop's heartbeat age and the relayer lease.
  Every process that shares the database reports the same values, so a dashboard may read them
  from any one (``max by`` them). The reads are index-range counts of the unfinished rows only,
  never of the whole history, so a scrape stays cheap at any size.

Where they are served: ``GET /metrics`` on every API process; ``tsunagari relay --metrics-port`` and
``tsunagari index run --metrics-port`` start a small HTTP server for the relayer and the indexer
(:func:`serve_metrics`). Names carry the ``tsunagari_`` prefix; docs/operations.md lists them with
example alerts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

__all__ = [
    "BATCH_FEES_WEI",
    "BATCH_GAS",
    "BATCHES_LANDED",
    "BROADCASTS",
    "CLAIMS_ACCEPTED",
    "CLAIMS_REFUSED",
    "CLAIMS_SETTLED",
    "DatabaseCollector",
    "INDEXER_CHECKPOINT",
    "INDEXER_HEAD",
    "INDEXER_LAG",
    "INDEXER_LOGS",
    "LEASE_ACTIVE",
    "LEASE_TAKEOVERS",
    "NONCE_GAPS_REPAIRED",
    "REQUEST_SECONDS",
    "REQUESTS",
    "register_database",
    "serve_metrics",
]

log = logging.getLogger("ledger.metrics")

# -- the API -------------------------------------------------------------------------------------
REQUESTS = Counter(
    "tsunagari_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "tsunagari_http_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CLAIMS_ACCEPTED = Counter("tsunagari_claims_accepted", "Claims committed to the outbox by this API process (202)")
CLAIMS_REFUSED = Counter("tsunagari_claims_refused", "Claims refused by the intake, by error code", ["code"])

# -- the relayer ---------------------------------------------------------------------------------
CLAIMS_SETTLED = Counter(
    "tsunagari_claims_settled", "Claims that reached a final state in this relayer (confirmed, rejected)", ["status"]
)
BATCHES_LANDED = Counter("tsunagari_relay_batches_landed", "Batches whose transaction was mined", ["kind"])
BATCH_GAS = Counter("tsunagari_relay_gas_used", "Gas used by the relayer's mined transactions", ["kind"])
BATCH_FEES_WEI = Counter(
    "tsunagari_relay_fees_wei", "Fees paid for the relayer's mined transactions (gas used × effective price)", ["kind"]
)
BROADCASTS = Counter("tsunagari_relay_broadcasts", "Transactions sent to the node (first sends, bumps, resends)")
NONCE_GAPS_REPAIRED = Counter(
    "tsunagari_relay_nonce_gaps_repaired", "Nonces below the relayer's next one filled again (resend or filler)"
)
LEASE_ACTIVE = Gauge("tsunagari_relay_lease_active", "1 while this relayer process holds its key's lease")
LEASE_TAKEOVERS = Counter("tsunagari_relay_lease_takeovers", "Times this process took the lease (its tenures)")
RELAYER_BALANCE_WEI = Gauge(
    "tsunagari_relay_balance_wei", "The relayer key's balance on the chain, read by the active relayer", ["account"]
)

# -- the indexer ---------------------------------------------------------------------------------
INDEXER_HEAD = Gauge("tsunagari_indexer_head_block", "The chain head the indexer last saw")
INDEXER_CHECKPOINT = Gauge("tsunagari_indexer_checkpoint_block", "Every log up to this block is indexed")
INDEXER_LAG = Gauge("tsunagari_indexer_lag_blocks", "Head seen minus checkpoint")
INDEXER_LOGS = Counter("tsunagari_indexer_logs", "Logs written to the index by this process")


class DatabaseCollector(Collector):
    """Figures read from the shared database when Prometheus scrapes (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._collect()
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even with the database down
            log.warning("metrics: the database could not be read (%s)", exc)
            up = GaugeMetricFamily("tsunagari_database_up", "1 when the database answered the scrape")
            up.add_metric([], 0)
            yield up

    def _collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        depth = GaugeMetricFamily(
            "tsunagari_outbox_depth", "Claims and supports not yet final, by table and state", labels=["table", "state"]
        )
        batches = GaugeMetricFamily(
            "tsunagari_relay_batches_open", "Batches not yet final, by status", labels=["status"]
        )
        backlog = GaugeMetricFamily(
            "tsunagari_refresh_backlog", "Derived rows waiting to be recomputed", labels=["table"]
        )
        checkpoint = GaugeMetricFamily(
            "tsunagari_index_checkpoint_block", "The indexed block (from the database)", labels=["chain_id"]
        )
        lag = GaugeMetricFamily(
            "tsunagari_index_lag_blocks", "Head seen minus indexed block (from the database)", labels=["chain_id"]
        )
        heartbeat = GaugeMetricFamily(
            "tsunagari_service_heartbeat_age_seconds", "Seconds since a loop last reported", labels=["service"]
        )
        progress = GaugeMetricFamily(
            "tsunagari_service_progress_age_seconds", "Seconds since a loop last got work done", labels=["service"]
        )
        errors = GaugeMetricFamily(
            "tsunagari_service_errors", "Errors a loop retried since it started", labels=["service"]
        )
        lease_epoch = GaugeMetricFamily("tsunagari_relay_lease_epoch", "Lease hand-overs so far", labels=["account"])
        lease_left = GaugeMetricFamily(
            "tsunagari_relay_lease_remaining_seconds",
            "Until the relayer lease expires unless renewed",
            labels=["account"],
        )
        from ledger.relay.outbox import unfinished

        with self.engine.connect() as conn:
            pending, open_batches = unfinished(conn)
            for (table, state), count in pending.items():
                depth.add_metric([table, state], float(count))
            for status, count in open_batches.items():
                batches.add_metric([status], float(count))
            ties, days = conn.execute(
                text("SELECT (SELECT COUNT(*) FROM dirty_ties), (SELECT COUNT(*) FROM dirty_days)")
            ).one()
            backlog.add_metric(["ties"], float(ties))
            backlog.add_metric(["days"], float(days))
            for chain_id, block, head in conn.execute(
                text("SELECT chain_id, MIN(block_number), MAX(head_seen) FROM indexer_checkpoints GROUP BY chain_id")
            ):
                checkpoint.add_metric([str(chain_id)], float(block))
                lag.add_metric([str(chain_id)], float(max(0, int(head) - int(block))))
            for service, seen, progressed, count in conn.execute(
                text("SELECT service, seen_at, progress_at, errors FROM service_health")
            ):
                heartbeat.add_metric([str(service)], max(0.0, now - float(seen)))
                if progressed is not None:
                    progress.add_metric([str(service)], max(0.0, now - float(progressed)))
                errors.add_metric([str(service)], float(count))
            for account, epoch, expires in conn.execute(text("SELECT account, epoch, expires_at_ms FROM relay_leases")):
                lease_epoch.add_metric([str(account)], float(epoch))
                lease_left.add_metric([str(account)], max(0.0, float(expires) / 1000 - now))
        up = GaugeMetricFamily("tsunagari_database_up", "1 when the database answered the scrape")
        up.add_metric([], 1)
        yield from (depth, batches, backlog, checkpoint, lag, heartbeat, progress, errors, lease_epoch, lease_left, up)


def register_database(engine: Engine, registry: CollectorRegistry) -> None:
    registry.register(DatabaseCollector(engine))


def serve_metrics(port: int, engine: Engine, host: str = "127.0.0.1") -> None:
    """Serve this process's metrics (with the database's) at ``http://host:port/metrics`` from a
    background thread (the relayer's and the indexer's processes; the API serves ``/metrics``)."""
    from prometheus_client import REGISTRY

    register_database(engine, REGISTRY)
    start_http_server(port, addr=host)
    log.info("metrics at http://%s:%d/metrics", host, port)
