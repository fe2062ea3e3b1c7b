"""Where Claude Code keeps transcripts, found exactly as ccusage finds them."""

from __future__ import annotations

import contextlib
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


def session_files(root: Path, failed: dict[str, str] | None = None) -> list[Path]:
    """Every ``projects/**/*.jsonl`` under a root, sorted by path.

    Symlinked folders and files are followed (ccusage follows them), but each folder and file
    is taken once however many ways lead to it, so a link cycle ends and a linked copy is not
    read twice; a real path wins over a link, so a file keeps its name (and checkpoint).
    Folders that exist but cannot be listed go into ``failed`` (path -> why).
    """
    files: dict[tuple[int, int], Path] = {}
    seen: set[tuple[int, int]] = set()
    real: list[Path] = [root / "projects"]
    linked: list[Path] = []
    linked_files: list[Path] = []
    while real or linked:
        folder = real.pop() if real else linked.pop(0)
        try:
            st = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:  # there, but not ours to read
            if failed is not None:
                failed[str(folder)] = describe(err)
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            with contextlib.suppress(OSError):
                link = entry.is_symlink()
                if entry.is_dir():
                    (linked if link else real).append(Path(entry.path))
                elif not entry.name.endswith(".jsonl") or not entry.is_file():
                    continue
                elif link:
                    linked_files.append(Path(entry.path))
                else:
                    files.setdefault((st.st_dev, entry.inode()), Path(entry.path))
    for path in linked_files:
        with contextlib.suppress(OSError):
            target = path.stat()
            files.setdefault((target.st_dev, target.st_ino), path)
    return sorted(files.values(), key=str)


def describe(err: OSError) -> str:
    """Why a file or folder could not be read, in a few words."""
    if isinstance(err, PermissionError):
        return "permission denied"
    return f"cannot read: {err.strerror or type(err).__name__}"


def root_of(path: Path, roots: list[Path]) -> Path | None:
    for root in roots:
        if path.is_relative_to(root / "projects"):
            return root
    return None
