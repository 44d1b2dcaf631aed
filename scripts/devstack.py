"""A whole Tsunagari deployment on this machine, as real processes, for fault tests, browser tests
and benchmarks: anvil (1 s blocks, state file), a deployed ledger with two regions, an open
activity, and ``tsunagari api serve`` / ``tsunagari relay`` / ``tsunagari index run`` subprocesses,
each of which can be killed (-9) and restarted.

Every process reads its settings from environment variables pointing into one temporary folder, so
nothing touches the developer's ``.tsunagari/``. Loopback only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine

from ledger.auth import create_api_key
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient
from ledger.chain.deploy import Deployment, deploy_ledger, save_deployment
from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.checkin.signing import ClaimSigning
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.relay.outbox import Outbox
from ledger.taxonomy import ContributionKind

__all__ = ["DevStack", "demo_environment", "running_stack", "sign_claim", "start_demo", "TATEYAMA", "NAGAOKA"]

TATEYAMA, NAGAOKA = 12205, 15202
_CLI = [sys.executable, "-m", "scripts.cli"]


@dataclass
class Service:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def sign_claim(
    person: LocalAccount, signing: ClaimSigning, token: str, activity_id: int, requested_at: int | None = None
) -> dict[str, Any]:
    """The JSON body the claim page posts, signed by ``person``."""
    requested_at = int(time.time()) if requested_at is None else requested_at
    document = signing.typed_data(activity_id, token, person.address, requested_at)
    signature = person.sign_message(encode_typed_data(full_message=document)).signature.hex()
    return {
        "token": token,
        "participant": person.address,
        "requested_at": requested_at,
        "signature": "0x" + signature.removeprefix("0x"),
        "activity_id": activity_id,
    }


@dataclass
class DevStack:
    root: Path
    anvil: AnvilDevnet
    deployment: Deployment
    client: LedgerClient
    engine: Engine
    env: dict[str, str]
    api_port: int
    operator_key: str
    activity_id: int
    services: dict[str, Service] = field(default_factory=dict)
    api2_port: int = 0  # the second API process (service ``api2``), when started

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def signing(self) -> ClaimSigning:
        return ClaimSigning(31337, self.deployment.ledger)

    # -- processes -----------------------------------------------------------------------------------

    def start(self, name: str, wait: bool = True) -> Service:
        service = self.services[name]
        if service.running():
            return service
        with open(service.log, "ab") as log:
            service.process = subprocess.Popen(
                service.argv,
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if wait and name in ("api", "api2"):
            self.wait_for_api(name=name)
        return service

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        service = self.services[name]
        if service.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, sig)
        service.process.wait(timeout=30)
        service.process = None

    def restart(self, name: str) -> Service:
        self.kill(name)
        return self.start(name)

    def wait_for_api(self, timeout_s: float = 60.0, name: str = "api") -> None:
        deadline = time.monotonic() + timeout_s
        url = self.api_url if name == "api" else f"http://127.0.0.1:{self.api2_port}"
        while time.monotonic() < deadline:
            service = self.services[name]
            if service.process is not None and service.process.poll() is not None:
                raise RuntimeError(f"the API exited: {service.log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer within {timeout_s} s")

    def stop_anvil(self) -> None:
        self.anvil.close()

    def start_anvil(self) -> None:
        self.anvil.start()

    def kill_anvil(self, *, restore: Path | None = None) -> None:
        """``kill -9`` the node; with ``restore``, put that older copy of its state file back first, so
        the restarted node has lost every block since (a node restored from a snapshot). Then start it."""
        self.anvil.kill()
        if restore is not None and self.anvil.state_file is not None:
            shutil.copyfile(restore, self.anvil.state_file)
        self.anvil.start()

    def copy_anvil_state(self, name: str = "anvil-state.copy.json") -> Path:
        """A copy of the node's state file as it is now (it is written once a second)."""
        assert self.anvil.state_file is not None
        target = self.root / name
        shutil.copyfile(self.anvil.state_file, target)
        return target

    # -- the check-in flow ------------------------------------------------------------------------------

    def kiosk_url(self, activity_id: int | None = None) -> str:
        answer = httpx.post(
            f"{self.api_url}/api/v1/activities/{activity_id or self.activity_id}/kiosk",
            headers={"Authorization": f"Bearer {self.operator_key}"},
            timeout=30,
        )
        answer.raise_for_status()
        url: str = answer.json()["kiosk_url"]
        return url

    def current_token(self, kiosk_url: str) -> str:
        """Scan the kiosk: the token in the QR code it shows now."""
        path, _, session = kiosk_url.partition("?k=")
        activity = path.rstrip("/").rsplit("/", 1)[1]
        frame = httpx.get(f"{self.api_url}/api/v1/kiosk/{activity}/frame", params={"k": session}, timeout=10).json()
        token: str = frame["claim_url"].rsplit("/", 1)[1]
        return token

    def claims(self) -> dict[int, tuple[str, str]]:
        """Every claim in the outbox: id -> (participant, status)."""
        return Outbox(self.engine).claims_by_id()

    def supports_on_chain(self) -> dict[str, int]:
        """supporter -> how many ``ProjectSupported`` logs name them."""
        event = self.client.contract.events.ProjectSupported
        counts: dict[str, int] = {}
        head = self.client.w3.eth.block_number
        for log in event.get_logs(from_block=self.deployment.deploy_block, to_block=head):
            supporter = str(log["args"]["supporter"]).lower()
            counts[supporter] = counts.get(supporter, 0) + 1
        return counts

    def on_chain(self) -> dict[int, int]:
        """claim id -> how many ContributionRecorded logs stand for it (must be exactly 1 for each
        claim): a log names its activity and participant, the outbox has one claim per pair."""
        event = self.client.contract.events.ContributionRecorded
        claims = Outbox(self.engine).claim_ids_by_record()
        counts: dict[int, int] = {}
        head = self.client.w3.eth.block_number
        for log in event.get_logs(from_block=self.deployment.deploy_block, to_block=head):
            claim = claims.get((int(log["args"]["activityId"]), str(log["args"]["participant"]).lower()), -1)
            counts[claim] = counts.get(claim, 0) + 1
        return counts

    def wait_until_settled(self, timeout_s: float = 120.0) -> dict[int, tuple[str, str]]:
        """Wait until no claim is accepted or submitted any more; returns the final claims."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            claims = self.claims()
            if all(status in ("confirmed", "rejected") for _, status in claims.values()):
                return claims
            time.sleep(0.5)
        pending = {k: v for k, v in self.claims().items() if v[1] not in ("confirmed", "rejected")}
        raise TimeoutError(f"{len(pending)} claims still pending after {timeout_s} s")

    def close(self) -> None:
        for name in list(self.services):
            self.kill(name, signal.SIGTERM)
        self.engine.dispose()
        self.anvil.close()


@contextlib.contextmanager
def running_stack(
    root: Path,
    *,
    block_time_s: float = 1.0,
    services: tuple[str, ...] = ("api", "relay", "index"),
    settings: dict[str, str] | None = None,
    api_workers: int = 1,
    db_url: str | None = None,
) -> Iterator[DevStack]:
    """Start the whole stack under ``root``; everything is stopped on exit.

    ``services`` may also name ``api2`` (a second ``tsunagari api serve`` process on its own port,
    :attr:`DevStack.api2_port`) and ``relay2`` (a second relayer with the same key: a standby).
    ``db_url`` puts the stack on another database (a PostgreSQL schema) instead of a SQLite file."""
    root.mkdir(parents=True, exist_ok=True)
    anvil = AnvilDevnet(
        port=free_port(), block_time_s=block_time_s, state_file=root / "anvil-state.json", log_file=root / "anvil.log"
    )
    anvil.start()
    try:
        platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
        w3 = anvil.w3
        deployment = deploy_ledger(w3, platform)
        client = LedgerClient(w3, deployment.ledger, poll_s=0.05)
        for region, name in ((TATEYAMA, "館山つながりコイン"), (NAGAOKA, "長岡つながりコイン")):
            client.register_region(platform, region, name, "TSUNAGARI", admin.address)
            client.grant_issuer(admin, region, relayer.address)
        now = int(time.time())
        activity_id = client.register_activity(
            admin,
            ActivitySpec(TATEYAMA, ContributionKind.FESTIVAL_EVENT, 300, now - 600, now + 86_400, 0),
        )
        save_deployment(root / "deployments", deployment)
        db_url = db_url or f"sqlite:///{root / 'tsunagari.db'}"
        engine = make_engine(db_url)
        upgrade_to_head(engine)
        with write_transaction(engine) as conn:
            operator_key, _ = create_api_key(conn, "operator", "館山 staff", TATEYAMA)
        api_port, api2_port = free_port(), free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TSUNAGARI_")},
            "TSUNAGARI_CHAIN__BACKEND": "rpc",
            "TSUNAGARI_CHAIN__RPC_URL": anvil.rpc_url,
            "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(root / "deployments"),
            "TSUNAGARI_CHAIN__REQUEST_TIMEOUT_S": "3",
            "TSUNAGARI_DB__URL": db_url,
            "TSUNAGARI_API__HOST": "127.0.0.1",
            "TSUNAGARI_API__PORT": str(api_port),
            "TSUNAGARI_CHECKIN__SECRET_FILE": str(root / "kiosk.key"),
            "TSUNAGARI_INDEXER__POLL_INTERVAL_S": "0.3",
            "PYTHONUNBUFFERED": "1",
            **(settings or {}),
        }
        env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
        stack = DevStack(root, anvil, deployment, client, engine, env, api_port, operator_key, activity_id)
        stack.api2_port = api2_port
        api = [*_CLI, "api", "serve", "--no-access-log", "--workers", str(api_workers)]
        argv = {
            "api": api,
            "api2": [*api, "--port", str(api2_port)],
            "relay": [*_CLI, "relay"],
            "relay2": [*_CLI, "relay"],
            "index": [*_CLI, "index", "run"],
        }
        for name, command in argv.items():
            stack.services[name] = Service(name, command, root / f"{name}.log")
        for name in services:
            stack.start(name)
    except BaseException:
        anvil.close()
        raise
    try:
        yield stack
    finally:
        stack.close()


def participants(count: int, seed: str = "tsunagari-stack") -> list[LocalAccount]:
    """Deterministic throwaway participant keys (devnet only)."""
    from eth_utils.crypto import keccak

    return [Account.from_key(keccak(text=f"{seed}-{i}")) for i in range(count)]


def demo_environment(folder: Path, people: int) -> dict[str, str]:
    """The environment of a ``tsunagari demo`` subprocess whose devnet, deployments, SQLite file and
    kiosk key all live in ``folder``, on free ports, seeding ``people`` participants (the demo's
    tests and its benchmark)."""
    port, api_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TSUNAGARI_")},
        "TSUNAGARI_DEVNET__DATA_DIR": str(folder / "devnet"),
        "TSUNAGARI_DEVNET__PORT": str(port),
        "TSUNAGARI_CHAIN__RPC_URL": f"http://127.0.0.1:{port}",
        "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(folder / "deployments"),
        "TSUNAGARI_DB__URL": f"sqlite:///{folder / 'index.db'}",
        "TSUNAGARI_API__PORT": str(api_port),
        "TSUNAGARI_CHECKIN__SECRET_FILE": str(folder / "kiosk.key"),
        "TSUNAGARI_DEMO__PEOPLE": str(people),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    return env


def start_demo(env: dict[str, str], folder: Path, out: IO[bytes]) -> subprocess.Popen[bytes]:
    """``tsunagari demo`` as a process in ``folder`` with ``env`` (:func:`demo_environment`), its
    output to ``out``."""
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "demo"],
        cwd=folder,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
