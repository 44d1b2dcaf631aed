"""Everything a small deployment runs, in one process: the API (uvicorn), the relayer and the
indexer, each worker thread with its own chain connection. ``tsunagari serve`` and the demo use it;
a larger deployment runs ``tsunagari api serve``, ``tsunagari relay`` and ``tsunagari index run``
as separate processes instead (same code).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn

from api.app import create_serving_app
from ledger.chain.context import open_chain
from ledger.db.engine import make_engine
from ledger.settings import Settings

__all__ = ["serve_all"]

log = logging.getLogger("tsunagari.serve")


def _worker(name: str, body: Callable[[threading.Event], None], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                body(stop)
            except Exception:  # a worker that dies is restarted: the API must keep its helpers
                log.exception("%s stopped with an error; restarting in 5 s", name)
                stop.wait(5.0)
            else:
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def serve_all(
    settings: Settings,
    *,
    relay: bool = True,
    index: bool = True,
    on_started: Callable[[], None] | None = None,
    access_log: bool = False,
    relay_after: threading.Event | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM). ``relay_after``: the relayer starts only once it
    is set (the demo sets it when its seed has handed the chain back at today's time)."""
    stop = threading.Event()
    threads = []
    if relay:

        def relayer(stop: threading.Event) -> None:
            from ledger.relay import Relayer

            while relay_after is not None and not relay_after.is_set():
                if stop.wait(0.5):
                    return

            engine = make_engine(settings.db.url)
            Relayer(settings, engine, open_chain(settings)).run(stop)

        threads.append(_worker("relayer", relayer, stop))
    if index:

        def indexer(stop: threading.Event) -> None:
            from ledger.indexer.service import build_indexer

            service = build_indexer(open_chain(settings), make_engine(settings.db.url))
            with service.indexer:
                service.indexer.follow(stop)

        threads.append(_worker("indexer", indexer, stop))
    server = uvicorn.Server(
        uvicorn.Config(
            create_serving_app(settings),
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
            access_log=access_log,
        )
    )
    if on_started is not None:

        def announce() -> None:
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.05)
            if server.started:
                on_started()

        threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
