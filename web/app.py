"""The ASGI application: the dashboard page, the JSON endpoints, ``/events``, and errors as
JSON. Any error a client can cause is a 4xx with ``{"error": ...}``; a missing read model or
hub is a 503; nothing a client sends reaches a traceback.
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.parsing import EVENTS, QueryError, parse
from usagectl.processors.readmodel import NoReadModel

from . import event_stream
from .api import ENDPOINTS, HUB_ERRORS, Endpoint, ServerState, json_response
from .metrics import metrics_route
from .openapi import spec
from .security import Guard, RateLimiter

STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
# The page runs only its own script and style and talks only to this server.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _known_errors(err: Exception) -> Response | None:
    if isinstance(err, QueryError):
        return error(err.status, err.message)
    if isinstance(err, UserError):
        return error(400, str(err))
    if isinstance(err, NoReadModel):
        return error(503, str(err))
    if isinstance(err, sqlite3.Error):
        return error(503, f"database error: {err}")
    if isinstance(err, HUB_ERRORS):
        return error(503, f"the hub is unavailable: {err or type(err).__name__}")
    return None


def _route(state: ServerState, ep: Endpoint) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            p = parse(request.query_params.multi_items(), ep.params)
            return await ep.run(state, p)
        except Exception as err:
            known = _known_errors(err)
            if known is None:
                raise
            return known

    return Route(ep.path, endpoint, methods=["GET"], name=ep.path)


def _resume_from(request: Request) -> int | None:
    """Last-Event-ID (what a reconnecting EventSource sends) wins over ``?since=``."""
    since: int | None = parse(request.query_params.multi_items(), EVENTS)["since"]
    header = request.headers.get("last-event-id", "").strip()
    if not header:
        return since
    if not header.isdigit() or len(header) > 19:
        raise QueryError(f"invalid Last-Event-ID {header[:40]!r}: a stream sequence number")
    return int(header)


def _events(state: ServerState) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            after = _resume_from(request)
            if state.live is None:
                return error(503, "live events need the hub, and it is not connected")
            start, reset = await event_stream.start_position(state.live, after)
        except Exception as err:
            known = _known_errors(err)
            if known is None:
                raise
            return known
        body = event_stream.stream(
            state.live, start, reset, state.stopping, request.is_disconnected
        )
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return Route("/events", endpoint, methods=["GET"])


def _page() -> list[Route]:
    folder = resources.files("usagectl.web") / "static"
    index = (folder / "index.html").read_bytes()
    files = {name: (folder / name).read_bytes() for name in STATIC}

    async def page(request: Request) -> Response:
        return Response(
            index,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
        )

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:  # only the files above: no path ever reaches the file system
            raise HTTPException(404, f"not found: {request.url.path}")
        return Response(
            files[name],
            media_type=f"{STATIC[name]}; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    return [Route("/", page, methods=["GET"]), Route("/static/{name}", static, methods=["GET"])]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if exc.status_code == 404 and message == "Not Found":
        message = f"not found: {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed: use GET"
    response = error(exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    return error(500, "internal error: see the server's log")


def build_app(
    state: ServerState, *, token: str | None, loopback: bool, limiter: RateLimiter | None
) -> ASGIApp:
    document = spec()

    async def openapi(request: Request) -> Response:
        return json_response(document)

    routes: list[Any] = [
        *_page(),
        *(_route(state, ep) for ep in ENDPOINTS),
        _events(state),
        Route("/api/openapi.json", openapi, methods=["GET"]),
        metrics_route(state),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error, Exception: _server_error}
    )
    return Guard(app, token=token, loopback=loopback, limiter=limiter)
