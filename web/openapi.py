"""The OpenAPI 3.1 description, written from the endpoint table (web.api.ENDPOINTS)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from usagectl.processors.app.parsing import EVENTS

from .api import ENDPOINTS, Endpoint

ERROR = {"$ref": "#/components/schemas/Error"}


def _version() -> str:
    try:
        return version("usagectl")
    except PackageNotFoundError:
        return "0"


def _errors(auth: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "400": {"description": "a bad parameter (unknown, repeated or invalid)"},
        "429": {"description": "rate limited; see Retry-After"},
        "503": {"description": "no read model yet, or the hub is unreachable"},
    }
    if auth:
        out["401"] = {"description": "missing or wrong bearer token (non-loopback binds)"}
    for value in out.values():
        value["content"] = {"application/json": {"schema": ERROR}}
    return out


def _operation(ep: Endpoint) -> dict[str, Any]:
    described = f"The same object as `usagectl {ep.cli} --json`." if ep.cli else ""
    media = ep.media
    if ep.path == "/api/export":
        content: dict[str, Any] = {
            m: {} for m in ("text/csv", "application/json", "application/x-ndjson")
        }
    else:
        content = {media: {"schema": {"type": "object"}}}
    return {
        "summary": ep.summary,
        "description": described,
        "operationId": ep.path.rsplit("/", 1)[-1],
        "parameters": [
            {
                "name": p.name,
                "in": "query",
                "required": False,
                "description": p.help,
                "schema": p.schema(),
            }
            for p in ep.params
        ],
        "responses": {"200": {"description": ep.summary, "content": content}, **_errors(True)},
    }


def _events() -> dict[str, Any]:
    params = [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.help,
            "schema": p.schema(),
        }
        for p in EVENTS
    ]
    params.append(
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": "the last id received: resume right after it",
            "schema": {"type": "integer", "minimum": 0},
        }
    )
    return {
        "summary": "Live events (Server-Sent Events)",
        "description": (
            "Event types: `usage` and `limit` (id = the facts stream's JetStream sequence), "
            "`heartbeat` and `alert` (no id), `hello` (where the stream starts), `reset` "
            "(reload your snapshot: too far behind, or ahead of a recreated stream)."
        ),
        "operationId": "events",
        "parameters": params,
        "responses": {
            "200": {"description": "an endless event stream", "content": {"text/event-stream": {}}},
            **_errors(True),
        },
    }


def spec() -> dict[str, Any]:
    paths = {ep.path: {"get": _operation(ep)} for ep in ENDPOINTS}
    paths["/events"] = {"get": _events()}
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This description",
            "operationId": "openapi",
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "usagectl",
            "version": _version(),
            "description": "Claude Code usage from the read models, live events, and the "
            "dashboard page at /.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "required when bound to a non-loopback address",
                }
            },
        },
        "security": [{}, {"bearer": []}],
    }
