"""URLs as they may be shown (logs, `config show`, alert delivery lines): one place that knows
where a URL keeps its secret."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"(://)([^/@]*)@")


def mask_url(url: str | None, *, secret_path: bool = False) -> str:
    """``url`` without its secret. A hub URL keeps it in the user info (``nats://m1:****@hub``,
    ``nats://****@hub``); a webhook URL (``secret_path``) in its path, so only scheme and host
    are shown."""
    if secret_path:
        if not url:
            return "(no url)"
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}/***"

    def hide(m: re.Match[str]) -> str:
        user, colon, _ = m.group(2).partition(":")
        return f"{m.group(1)}{user}:****@" if colon else f"{m.group(1)}****@"

    return _USERINFO.sub(hide, url or "")
