"""What every request passes before a page sees it (plain ASGI, outermost): the Host must be one
of the workbench's names (a DNS-rebinding page reaches nothing), the body must fit its limit
(refused by its Content-Length before it is read, or as soon as a chunked body passes it),
and every answer carries the security headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

FORM_LIMIT = 2 * 1024 * 1024  # a configuration document is a few hundred kB at most
UPLOAD_LIMIT = 256 * 1024 * 1024  # a custom-field file (streamed to disk, then the database)
UPLOAD_PATHS = ("/custom-fields",)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class TooLarge(Exception):
    pass


def host_name(value: str) -> str:
    """The name of a Host header without its port (IPv6 literals in brackets)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _too_large(limit: int) -> str:
    return f"the request body is over {limit // 1024 // 1024} MB"


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()), *HEADERS]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: Callable, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if host not in self.allowed:
            return await _plain(send, 400, f"Host {host!r} is not a name of this workbench; "
                                "the operator adds names with --allowed-host")  # fmt: skip
        path = scope.get("path", "")
        limit = UPLOAD_LIMIT if path in UPLOAD_PATHS else FORM_LIMIT
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _plain(send, 413, _too_large(limit))
        seen, started, too_big = 0, False, False

        async def counted() -> dict[str, Any]:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_big = True
                    raise TooLarge
            return message

        async def with_headers(message: dict[str, Any]) -> None:
            nonlocal started
            if too_big:  # the app answered a body it could not read whole (often a 400): 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _plain(send, 413, _too_large(limit))
                return
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except TooLarge:
            if not started:
                started = True
                await _plain(send, 413, _too_large(limit))
