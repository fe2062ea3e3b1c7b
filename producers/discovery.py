"""Where Claude Code keeps transcripts, found exactly as ccusage finds them."""

from __future__ import annotations

import os
from pathlib import Path


class NoDataRoots(Exception):
    """CLAUDE_CONFIG_DIR named no usable directory (ccusage treats this as an error too)."""

    user_facing = True


def _normalise(entry: str, home: Path) -> Path:
    if entry == "~":
        path = home
    elif entry.startswith("~/"):
        path = home / entry[2:]
    else:
        path = Path(entry)
    if path.name == "projects" and path.is_dir():
        path = path.parent
    return path


def claude_roots(config_dirs: str | None, home: Path, xdg_config_home: str | None) -> list[Path]:
    """Data roots: each must contain ``projects/``. A set CLAUDE_CONFIG_DIR replaces defaults."""
    if config_dirs is not None and config_dirs.strip():
        roots: list[Path] = []
        for raw in config_dirs.split(","):
            entry = raw.strip()
            if not entry:
                continue
            path = _normalise(entry, home)
            if (path / "projects").is_dir() and path not in roots:
                roots.append(path)
        if not roots:
            raise NoDataRoots(
                f"no Claude data directory with a projects/ folder in CLAUDE_CONFIG_DIR="
                f"{config_dirs!r}"
            )
        return roots
    xdg = Path(xdg_config_home) if xdg_config_home else home / ".config"
    return [p for p in (xdg / "claude", home / ".claude") if (p / "projects").is_dir()]


def session_files(root: Path) -> list[Path]:
    """Every ``projects/**/*.jsonl`` under a root, sorted by path; symlinks are not followed."""
    found: list[Path] = []
    stack = [root / "projects"]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name.endswith(".jsonl") and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    found.sort(key=str)
    return found


def root_of(path: Path, roots: list[Path]) -> Path | None:
    for root in roots:
        if path.is_relative_to(root / "projects"):
            return root
    return None
