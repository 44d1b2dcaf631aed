"""One typed settings object for every process (CLI, API, relayer, indexer).

Priority, highest first: keyword arguments to :class:`Settings`, environment variables
(``TSUNAGARI_`` prefix, ``__`` between nested groups, e.g. ``TSUNAGARI_CHAIN__RPC_URL``), a
``.env`` file in the working directory, then the defaults below. Every setting is listed with its
meaning in ``docs/settings.md`` (a test keeps the two in step).

The defaults describe the embedded demo: a local anvil devnet (chain id 31337) and a SQLite file
under ``.tsunagari/``. The well-known development mnemonic is refused on any other chain id.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEVNET_CHAIN_ID",
    "DEV_MNEMONIC",
    "ChainSettings",
    "DevnetSettings",
    "DatabaseSettings",
    "IndexerSettings",
    "ApiSettings",
    "CheckinSettings",
    "RelaySettings",
    "DemoSettings",
    "Settings",
    "get_settings",
]

DEVNET_CHAIN_ID = 31337
# anvil's and Hardhat's public test mnemonic: its keys are known to everyone, so it is only ever
# accepted on chain id 31337 (see ledger.chain.accounts).
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class ChainSettings(BaseModel):
    """Where the chain is and who signs."""

    backend: Literal["anvil", "pyevm", "rpc"] = Field(
        "anvil",
        description="anvil: the managed local devnet; pyevm: in-process py-evm (no Node); rpc: any EVM node at rpc_url",
    )
    rpc_url: str = Field("http://127.0.0.1:8545", description="JSON-RPC endpoint for the anvil and rpc backends")
    public_rpc_url: str | None = Field(
        None,
        description="JSON-RPC endpoint that browsers and certificate holders can reach (the verifier page's "
        "default and the certificates' rpc_hint); default: rpc_url",
    )
    expected_chain_id: int | None = Field(
        None, description="refuse to run when the node reports another chain id (None: accept what the node says)"
    )
    mnemonic: SecretStr | None = Field(
        None, description="HD mnemonic for operator keys; defaults to the dev mnemonic on chain 31337 only"
    )
    keystore_dir: Path | None = Field(
        None, description="folder of eth-account keystore JSON files (operator keys on real networks)"
    )
    keystore_password: SecretStr | None = Field(None, description="password of the keystore files")
    confirmations: int = Field(0, ge=0, description="blocks after which a block is treated as final")
    deployments_dir: Path = Field(
        Path(".tsunagari/deployments"), description="folder holding one <chain id>.json deployments file per chain"
    )
    request_timeout_s: float = Field(10.0, gt=0, description="timeout of one JSON-RPC request")
    poll_interval_s: float = Field(0.2, gt=0, description="how often receipts and new blocks are polled")

    @property
    def browser_rpc_url(self) -> str:
        """The JSON-RPC URL to give browsers and certificate holders: ``public_rpc_url``, else ``rpc_url``."""
        return self.public_rpc_url or self.rpc_url


class DevnetSettings(BaseModel):
    """The managed local anvil (``tsunagari devnet up``)."""

    host: str = Field("127.0.0.1", description="address anvil listens on (loopback only by default)")
    port: int = Field(8545, description="port anvil listens on")
    block_time_s: float = Field(
        1.0, ge=0, description="seconds between blocks of the managed devnet; 0 = automine (a block per transaction)"
    )
    data_dir: Path = Field(Path(".tsunagari/devnet"), description="anvil state file, pid file and log")
    accounts: int = Field(10, ge=1, description="number of funded dev accounts")


class DatabaseSettings(BaseModel):
    """The index database."""

    url: str = Field(
        "sqlite:///.tsunagari/tsunagari.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )


class IndexerSettings(BaseModel):
    """The indexer (``tsunagari index ...``); confirmations are ``chain.confirmations``."""

    initial_range: int = Field(2_000, ge=1, description="blocks per eth_getLogs call at start (adapts)")
    max_range: int = Field(50_000, ge=1, description="largest eth_getLogs block range")
    target_logs: int = Field(20_000, ge=100, description="shrink the range when a call brings more logs than this")
    reorg_window: int = Field(256, ge=1, description="block headers kept to find a common ancestor after a reorg")
    poll_interval_s: float = Field(0.5, gt=0, description="how often `index run` looks for new blocks")


class ApiSettings(BaseModel):
    """The HTTP API (``tsunagari api serve``)."""

    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, description="port the API listens on")
    max_body_bytes: int = Field(65_536, ge=1024, description="larger request bodies are refused with 413")
    public_k: int = Field(5, ge=1, description="k of the k-anonymity suppression of public aggregates")
    metrics_token: SecretStr | None = Field(
        None, description="when set, GET /metrics answers only with Authorization: Bearer <token> (docs/operations.md)"
    )


class CheckinSettings(BaseModel):
    """QR check-in: kiosk tokens, claim intake and its rate limits (docs/checkin.md)."""

    public_url: str = Field(
        "", description="base URL phones reach the API at, put in QR codes (empty: http://<api.host>:<api.port>)"
    )
    secret: SecretStr | None = Field(
        None, description="HMAC key of kiosk tokens (empty: a random key kept in secret_file)"
    )
    journal_file: Path | None = Field(
        None,
        description=(
            "append every accepted claim to this file, so a database restored from a backup gets back the claims "
            "acknowledged after it (ledger/relay/journal.py; keep it on another disk; docs/operations.md)"
        ),
    )
    secret_file: Path = Field(
        Path(".tsunagari/kiosk.key"),
        description="where the generated kiosk key is kept (mode 600) when secret is unset",
    )
    rotation_s: int = Field(30, ge=5, le=3600, description="seconds a kiosk QR code is shown before it changes")
    grace_s: int = Field(
        30, ge=0, le=3600, description="seconds a QR code stays valid after it was replaced (scanned just before)"
    )
    kiosk_session_hours: int = Field(24, ge=1, description="lifetime of a kiosk URL an operator opens")
    rate_ip_per_min: int = Field(
        600, ge=0, description="claims per minute from one IP address (a venue's Wi-Fi shares one; 0 = no limit)"
    )
    rate_participant_per_min: int = Field(
        10, ge=0, description="claim attempts per minute by one participant address (0 = no limit)"
    )
    code_failures_per_min: int = Field(
        10,
        ge=0,
        description="wrong single-use claim codes per minute from one IP address before it must wait (0 = no limit)",
    )
    max_batch_wait_ms: int = Field(
        5, ge=0, description="how long the intake writer waits to group concurrent claims into one commit"
    )


class RelaySettings(BaseModel):
    """The relayer (``tsunagari relay``; embedded in the demo): outbox → recordBatch / supportBySig."""

    batch_size: int = Field(
        250, ge=1, le=500, description="most claims in one recordBatch transaction (one batch per region per block)"
    )
    max_wait_s: float = Field(
        0.5, ge=0, description="longest a claim waits for a fuller batch before it is sent anyway"
    )
    poll_interval_s: float = Field(0.2, gt=0, description="how often the outbox is polled when idle")
    bump_after_s: float = Field(
        20.0, gt=0, description="resend a transaction with higher fees when it is not mined after this long"
    )
    fee_bump_percent: int = Field(25, ge=10, description="fee increase of each bump (nodes require at least 10)")
    max_fee_gwei: float = Field(500.0, gt=0, description="never offer more than this per gas")
    in_flight: int = Field(4, ge=1, description="transactions per account sent before waiting for receipts")
    watch_blocks: int = Field(
        128,
        ge=1,
        description=(
            "blocks (or chain.confirmations, if more) during which a mined batch is rechecked and sent again "
            "if its block leaves the chain"
        ),
    )
    key: str = Field(
        "relayer",
        min_length=1,
        description=(
            "the operator key the relayer signs with (a keystore <name>.json; on the devnet also relayer-2): "
            "change it to rotate the key (ledger/relay/rotation.py)"
        ),
    )
    lease_s: float = Field(
        10.0,
        ge=1,
        description=(
            "the relayer's lease on its key (ledger/relay/lease.py): a standby relayer takes over this long "
            "(plus a third of it) after the active one stops renewing"
        ),
    )
    lease_margin_s: float = Field(
        2.0, gt=0, description="the active relayer stops sending this long before its lease could expire"
    )

    @model_validator(mode="after")
    def _margin_within_lease(self) -> RelaySettings:
        if self.lease_margin_s >= self.lease_s / 2:
            raise ValueError("relay.lease_margin_s must be less than half of relay.lease_s")
        return self


class DemoSettings(BaseModel):
    """The demo's seeded year (``tsunagari demo``, ``tsunagari demo seed``; ``ledger/demo_seed``)."""

    seed_year: bool = Field(
        True, description="on a fresh devnet, seed a year of history (false: only the small first-steps demo)"
    )
    people: int = Field(4000, ge=1, le=50_000, description="participants in the seeded year")
    seed: int = Field(2023, description="random seed of the seeded year (same seed, same chain)")


class ConsoleSettings(BaseModel):
    """The staff console's sign-in (docs/console.md, docs/decisions/0004-staff-console-sign-in.md)."""

    session_hours: int = Field(12, ge=1, le=24 * 30, description="a session ends this long after sign-in")
    idle_minutes: int = Field(120, ge=5, description="a session ends after this long without a request")
    invite_hours: int = Field(72, ge=1, description="lifetime of an invite link")
    lockout_after: int = Field(5, ge=1, description="consecutive wrong passwords that lock an account")
    lockout_minutes: int = Field(15, ge=1, description="how long a locked account stays locked")
    client_failures: int = Field(
        20, ge=1, description="failed sign-ins from one address within client_window_minutes before it must wait"
    )
    client_window_minutes: int = Field(15, ge=1, description="window of the per-address sign-in limit")
    secure_cookie: bool | None = Field(
        None, description="mark the session cookie Secure (empty: when the request came over https)"
    )


class LogSettings(BaseModel):
    """How the long-running commands log (ledger/logs.py)."""

    format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line (time, level, logger, message, process)"
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="the lowest level logged")


class Settings(BaseSettings):
    """All settings, grouped."""

    model_config = SettingsConfigDict(
        env_prefix="TSUNAGARI_", env_nested_delimiter="__", env_file=".env", extra="forbid"
    )

    chain: ChainSettings = Field(default_factory=ChainSettings)
    devnet: DevnetSettings = Field(default_factory=DevnetSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    indexer: IndexerSettings = Field(default_factory=IndexerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    checkin: CheckinSettings = Field(default_factory=CheckinSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    log: LogSettings = Field(default_factory=LogSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
