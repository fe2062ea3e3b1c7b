"""Which project a transcript file belongs to when one of its lines does not say.

The line's ``cwd`` decides (DESIGN.md §3). A line without one takes the ``cwd`` of the other
lines of its file; only a file where no line has one falls back to its folder name, which need
not be the encoded cwd (``CLAUDE_CODE_PROJECT_DIR_NAME`` lets a host choose it).
"""

from __future__ import annotations

import re

import msgspec

_CWD = re.compile(rb'"cwd":\s*"((?:[^"\\]|\\.)*)"')
_SCAN_BYTES = 1 << 20
_SCAN_LIMIT = 64 << 20  # a file whose first 64 MB name no cwd names none


def file_cwd(path: str) -> str | None:
    """The first non-empty ``cwd`` written in the file, or None."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally
    except OSError:
        return None
    try:
        tail = b""
        for _ in range(_SCAN_LIMIT // _SCAN_BYTES):
            data = f.read(_SCAN_BYTES)
            if not data:
                return None
            data = tail + data
            for m in _CWD.finditer(data):
                try:
                    cwd = msgspec.json.decode(b'"' + m.group(1) + b'"', type=str)
                except msgspec.DecodeError:
                    continue
                if cwd:
                    return cwd
            tail = data[-4096:]
        return None
    finally:
        f.close()


class FileProjects:
    """Per file, the cwd its lines name (looked up once, only when a line lacks one)."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    def project_for(self, path: str) -> str | None:
        if path not in self._known:
            self._known[path] = file_cwd(path)
        return self._known[path]
