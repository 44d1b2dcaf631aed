"""A JSON-RPC proxy on 127.0.0.1 in front of a real node, for fault tests: it forwards every request
unchanged, except that it can withhold receipts (``eth_getTransactionReceipt`` answers ``null``), as
a node does for a moment after it counted a transaction's nonce (anvil under automine, a load
balancer in front of replicas that are a block apart)."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ledger.chain.devnet import free_port


class RpcProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.hide_receipts = threading.Event()
        self.withheld = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = proxy._answer(json.loads(body))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _forward(self, request: Any) -> Any:
        raw = urllib.request.Request(
            self.upstream, data=json.dumps(request).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(raw, timeout=10) as response:
            return json.loads(response.read())

    def _answer(self, request: Any) -> Any:
        if isinstance(request, list):
            return [self._answer(r) for r in request]
        if request.get("method") == "eth_getTransactionReceipt" and self.hide_receipts.is_set():
            self.withheld += 1
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": None}
        return self._forward(request)

    def __enter__(self) -> RpcProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
