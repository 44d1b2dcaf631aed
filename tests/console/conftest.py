"""Console fixtures: a migrated SQLite file, the app over it (no chain needed for sign-in), and
helpers to create accounts and sign in through the real forms. The world with a chain is in
tests/console/world.py."""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from api.app import create_app
from ledger.chain.devnet import free_port
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.settings import Settings
from ledger.staff import accounts
from ledger.staff.roles import Actor

PASSWORD = "correct horse battery"


@dataclass
class ConsoleWorld:
    engine: Engine
    settings: Settings
    base_url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def account(self, login: str, role: str, region: int | None, password: str = PASSWORD) -> int:
        """Create an account as the CLI would and set its password through its invite."""
        with write_transaction(self.engine) as conn:
            invite = accounts.create_account(
                conn,
                Actor.cli(),
                login=login,
                display_name=login.title(),
                role=role,
                region=region,
                settings=self.settings.console,
            )
            accounts.accept_invite(conn, invite.token, password)
        return invite.account_id

    def sign_in(self, client: httpx.Client, login: str, password: str = PASSWORD, code: str = "") -> int:
        page = client.get("/console/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token, page.text
        answer = client.post(
            "/console/login",
            data={"login": login, "password": password, "code": code, "login_token": token.group(1)},
        )
        return answer.status_code

    def new_client(self) -> httpx.Client:
        """A browser of its own (its own cookies); redirects are not followed."""
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self.clients.append(client)
        return client

    def signed_in(self, login: str, password: str = PASSWORD) -> httpx.Client:
        """A new browser signed in as ``login`` (an existing account)."""
        client = self.new_client()
        assert self.sign_in(client, login, password) == 303
        return client

    def csrf(self, client: httpx.Client) -> str:
        """The CSRF token of ``client``'s console session (one a session, on every form)."""
        return csrf_of(client.get("/console/account").text)

    def json(self, client: httpx.Client) -> dict[str, str]:
        """Headers for the JSON endpoints with ``client``'s console session: its CSRF token."""
        return {"X-CSRF-Token": self.csrf(client)}

    def close(self) -> None:
        for client in self.clients:
            client.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@contextmanager
def serving(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """``app`` served over real HTTP on 127.0.0.1 in a thread, on ``port`` (links the app makes
    itself, such as the kiosk's, name the port its settings give) or a free one; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def console_world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    settings = Settings(db={"url": f"sqlite:///{tmp_path / 'console.db'}"})  # type: ignore[arg-type]
    engine = make_engine(settings.db.url)
    upgrade_to_head(engine)
    app = create_app(settings)
    with serving(app) as base_url:
        world = ConsoleWorld(engine, settings, base_url)
        try:
            yield world
        finally:
            world.close()
    app.state.engine.dispose()
    engine.dispose()


@pytest.fixture(scope="module", autouse=True)
def _collect_after_module() -> Iterator[None]:
    """Collect garbage when a module's world is gone, so that a connection a module left open is
    reported against that module (as a ResourceWarning, an error here) rather than a later one."""
    yield
    gc.collect()
