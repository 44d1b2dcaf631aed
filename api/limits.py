"""The request body limit as a plain ASGI middleware.

It refuses a declared ``Content-Length`` over the limit before the app runs, and also counts the
bytes of a body sent without one (chunked), so no request body larger than ``api.max_body_bytes``
reaches a route either way. Plain ASGI rather than ``@app.middleware("http")``: that wrapper costs
a task and a response copy on every request, which showed in the claims benchmark.

A few routes deliberately take more (a project's image upload, up to 1 MiB): ``allowances`` maps a
path pattern (a full-match regular expression) to its own limit, checked only for POST/PUT/PATCH;
every other request keeps ``max_bytes``. The route still checks what it accepts (e.g. the image's
own size) and answers 413 itself beyond that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, allowances: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._allowances = [(re.compile(pattern), max(limit, max_bytes)) for pattern, limit in allowances]
        self._bodies: dict[int, bytes] = {}

    def _limit(self, scope: Scope) -> int:
        if self._allowances and scope["method"] in ("POST", "PUT", "PATCH"):
            path = scope["path"]
            for pattern, limit in self._allowances:
                if pattern.fullmatch(path):
                    return limit
        return self.max_bytes

    def _body(self, limit: int) -> bytes:
        body = self._bodies.get(limit)
        if body is None:
            body = json.dumps(
                {"error": {"code": "too_large", "message": f"request bodies are limited to {limit} bytes"}}
            ).encode()
            self._bodies[limit] = body
        return body

    async def _refuse(self, send: Send, limit: int) -> None:
        body = self._body(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > max_bytes:
                    await self._refuse(send, max_bytes)
                    return
                break
        received = 0
        refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Answer 413 now and tell the app the client went away: whatever it answers
                    # after that (frameworks turn a failed body read into a 400) is dropped.
                    refused = True
                    await self._refuse(send, max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)
