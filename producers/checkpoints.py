"""The producer's own state: per file, how far it has been published, and what it rejected.

An offset moves only after the broker acknowledged every event before it; the file's line
counts move in the same transaction, so a crash never counts a line twice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DDL = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, lines INTEGER NOT NULL,
    events INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE IF NOT EXISTS unreadable (
    path TEXT PRIMARY KEY, reason TEXT NOT NULL, since_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS line_reasons (
    path TEXT NOT NULL, reason TEXT NOT NULL, rejected INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (path, reason)
);
"""


def disk_full(err: BaseException, where: Path | None = None) -> bool:
    """Whether writing failed for want of space: SQLite's or the OS's words, or (SQLite in
    WAL mode says only "disk I/O error" when its shared-memory file cannot grow) an I/O
    error while the disk holding ``where`` has no space left."""
    if isinstance(err, sqlite3.OperationalError):
        text = str(err)
        return "full" in text or ("I/O error" in text and where is not None and no_space(where))
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space(where: Path) -> bool:
    try:
        return shutil.disk_usage(where).free < 256 * 1024
    except OSError:
        return False


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        # Small (a row per file), so checked whole: damage found later would stop the producer.
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("database disk image is malformed")
        db.executescript(DDL)
        db.execute("PRAGMA synchronous = NORMAL")
        columns = {r[1] for r in db.execute("PRAGMA table_info(files)")}
        if "fingerprint" not in columns:  # a checkpoint file from before fingerprints
            db.execute("ALTER TABLE files ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''")
    except BaseException:
        db.close()
        raise
    return db


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


@dataclass
class FileState:
    path: str
    inode: int = 0
    offset: int = 0
    size: int = 0
    mtime_ns: int = 0
    lines: int = 0
    events: int = 0
    fingerprint: str = ""  # identity.fingerprint at ``offset``


@dataclass
class ReadResult:
    """What one read of a file found, to be committed once its events are acknowledged."""

    state: FileState
    reset: bool = False
    lines: int = 0
    events: int = 0
    reasons: dict[tuple[str, bool], int] = field(default_factory=dict)
    acked_seq: int = 0


class DamagedCheckpoints(Exception):
    user_facing = True


class Checkpoints:
    """``recover``: a damaged file is moved aside and a fresh one started (every transcript is
    then read again; the processor counts each line once), and ``recovered`` says so. Without
    it (doctor, which only looks), a damaged file raises DamagedCheckpoints."""

    def __init__(self, path: Path, *, recover: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recovered = ""
        try:
            self.db = _open(path)
        except sqlite3.OperationalError:
            raise  # locked, disk full, unreadable: not damage, nothing to move aside
        except sqlite3.DatabaseError as err:
            if not recover:
                raise DamagedCheckpoints(
                    f"{path} is damaged ({err}): the next `usagectl sync` or `up` moves it "
                    "aside and reads every transcript again"
                ) from err
            aside = _move_aside(path)
            self.recovered = (
                f"{path} was damaged ({err}): moved aside to {aside.name}; every transcript is "
                "read again (each line still counts once)"
            )
            self.db = _open(path)

    def close(self) -> None:
        self.db.close()

    def load(self) -> dict[str, FileState]:
        rows = self.db.execute(
            "SELECT path, inode, offset, size, mtime_ns, lines, events, fingerprint FROM files"
        )
        return {r[0]: FileState(*r) for r in rows}

    def commit(self, results: list[ReadResult]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for r in results:
                self._commit_one(r)
            self.db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full) may already have rolled back; keep the first error.
            with contextlib.suppress(sqlite3.OperationalError):
                self.db.execute("ROLLBACK")
            raise

    def acked_seq(self) -> int:
        """The highest stream sequence the hub ever acknowledged to this producer."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'acked_seq'").fetchone()
        return int(row[0]) if row else 0

    def stream_id(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'stream_id'").fetchone()
        return str(row[0]) if row else None

    def trust(self, stream_id: str, stream_last_seq: int) -> bool:
        """Whether the offsets still describe what this hub holds; if not, start over.

        Another stream (a new hub, a recreated store) or one that ends before what it once
        acknowledged (a crash before its fsync) has not got everything: send it all again,
        the processor counts each line once.
        """
        known = self.stream_id()
        trusted = (known is None or known == stream_id) and stream_last_seq >= self.acked_seq()
        if not trusted:
            self.forget_all()
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('stream_id', ?)", (stream_id,)
        )
        return trusted

    def forget_all(self) -> None:
        """Start over: the hub lost what it had acknowledged, so everything is sent again."""
        self.db.executescript("DELETE FROM files; DELETE FROM line_reasons; DELETE FROM meta;")

    def _commit_one(self, r: ReadResult) -> None:
        if r.acked_seq:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('acked_seq', ?) ON CONFLICT (key) "
                "DO UPDATE SET value = max(value, excluded.value)",
                (r.acked_seq,),
            )
        s = r.state
        if r.reset:
            self.db.execute("DELETE FROM line_reasons WHERE path = ?", (s.path,))
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, inode, offset, size, mtime_ns, lines, events, "
            "fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (s.path, s.inode, s.offset, s.size, s.mtime_ns, s.lines, s.events, s.fingerprint),
        )
        self.db.executemany(
            "INSERT INTO line_reasons (path, reason, rejected, count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (path, reason) DO UPDATE SET count = count + excluded.count",
            [(s.path, reason, rejected, n) for (reason, rejected), n in r.reasons.items()],
        )

    def file_failed(self, path: str, reason: str, now_ms: int) -> None:
        """A file that could not be read this time (skipped; tried again at the next pass)."""
        self.db.execute(
            "INSERT INTO unreadable (path, reason, since_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET reason = excluded.reason",
            (path, reason, now_ms),
        )

    def file_read(self, path: str) -> None:
        self.db.execute("DELETE FROM unreadable WHERE path = ?", (path,))

    def unreadable(self) -> dict[str, str]:
        """Files that could not be read when last tried: path -> why."""
        return dict(self.db.execute("SELECT path, reason FROM unreadable ORDER BY path"))

    def reasons(self) -> Mapping[tuple[str, bool], int]:
        rows = self.db.execute(
            "SELECT reason, rejected, sum(count) FROM line_reasons GROUP BY reason, rejected"
        )
        return {(r[0], bool(r[1])): int(r[2]) for r in rows}

    def rejected_by_file(self) -> list[tuple[str, str, int]]:
        return [
            (r[0], r[1], int(r[2]))
            for r in self.db.execute(
                "SELECT path, reason, count FROM line_reasons WHERE rejected ORDER BY path, reason"
            )
        ]

    def totals(self) -> tuple[int, int, int, int]:
        """Files, lines, usage events, and bytes not yet read (lag)."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(lines), 0), coalesce(sum(events), 0), "
            "coalesce(sum(max(size - offset, 0)), 0) FROM files"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def tails_held(self) -> list[tuple[str, int]]:
        """Files whose last line was not counted when last read (no newline yet, and not a
        whole JSON object or not quiet yet): path and bytes held."""
        return [
            (r[0], int(r[1]))
            for r in self.db.execute(
                "SELECT path, size - offset FROM files WHERE size > offset ORDER BY path"
            )
        ]
