"""Who may reach a listening face (serve, the OTLP receiver): loopback or the access token,
created once per home and shared by every face."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from pathlib import Path

TOKEN_FILE = "serve-token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def access_token(home: Path) -> str:
    """The server's access token, created on first use (owner-only, written atomically so two
    servers starting together agree on one)."""
    path = home / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text().strip()
        if existing:
            return existing
    home.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # an empty file (a crash mid-write elsewhere) holds no token
    tmp = home / f".{TOKEN_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)  # fails if another server created it meanwhile: theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return str(path.read_text().strip())
