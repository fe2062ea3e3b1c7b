"""Stream history as compressed JSONL: one gzip file per UTC day of arrival at the hub.

The stream is the record after Claude Code deletes its transcripts; an archive lets the stream
itself drop old history (retention, or `archive --purge`) without losing it. A day's file is
written whole to a temporary name and renamed, and the archive's state (last sequence written)
is saved only after the rename, so a killed archive run leaves nothing half-written and the next
run redoes the unfinished day. Reading tolerates a truncated file (counted, never fatal).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from .bus import BusSettings, stream_identity
from .ordered import ordered

STATE_FILE = "archive-state.json"
FILE_PREFIX = "usagectl-"
FILE_SUFFIX = ".jsonl.gz"


class ArchivedMsg(msgspec.Struct, frozen=True):
    stream: str  # which stream the sequence belongs to: a recreated stream restarts at 1
    seq: int
    time: datetime  # when the hub stored it (the clock retention ages by)
    subject: str
    data: msgspec.Raw


class ArchiveState(msgspec.Struct):
    stream: str = ""
    last_seq: int = 0


class ArchiveError(Exception):
    user_facing = True


@dataclass
class ArchiveResult:
    messages: int = 0
    days: list[str] = field(default_factory=list)
    last_seq: int = 0
    purged: int = 0


def stream_tag(created: str) -> str:
    return hashlib.sha256(created.encode()).hexdigest()[:12]


def day_file(directory: Path, day: str) -> Path:
    return directory / f"{FILE_PREFIX}{day}{FILE_SUFFIX}"


def read_state(directory: Path) -> ArchiveState:
    try:
        return msgspec.json.decode((directory / STATE_FILE).read_bytes(), type=ArchiveState)
    except FileNotFoundError:
        return ArchiveState()
    except msgspec.DecodeError as err:
        raise ArchiveError(f"{directory / STATE_FILE} is not an archive state: {err}") from None


def _write_state(directory: Path, state: ArchiveState) -> None:
    tmp = directory / f".{STATE_FILE}.tmp"
    tmp.write_bytes(msgspec.json.encode(state))
    os.replace(tmp, directory / STATE_FILE)


def cutoff_for(now: datetime, older_than_days: float) -> datetime:
    """Messages stored before this are archived; a day cut in two is completed by the next
    run (its file is rewritten with what it had plus the rest)."""
    return (now - timedelta(days=older_than_days)).astimezone(UTC)


class _DayWriter:
    """One day's file: what an earlier run wrote for the day, then the new lines."""

    def __init__(self, directory: Path, day: str, after: ArchiveState) -> None:
        self.final = day_file(directory, day)
        self.tmp = directory / f".{self.final.name}.tmp"
        # Open across many writes, closed by finish(): a context manager cannot span them.
        self.out = gzip.open(self.tmp, "wb", compresslevel=6)  # noqa: SIM115
        if self.final.exists():
            for line in read_lines(self.final, ArchiveCounts()):
                if line.stream == after.stream and line.seq <= after.last_seq:
                    self.out.write(_encoder.encode(line) + b"\n")

    def write(self, line: ArchivedMsg) -> None:
        self.out.write(_encoder.encode(line) + b"\n")

    def finish(self) -> None:
        self.out.close()
        os.replace(self.tmp, self.final)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ArchivedMsg)


def _archived(tag: str, msg: Msg) -> ArchivedMsg:
    meta = msg.metadata
    try:
        data = msgspec.json.decode(msg.data, type=msgspec.Raw)
    except msgspec.DecodeError:  # not ours: kept, as a JSON string, so nothing is lost
        data = msgspec.Raw(msgspec.json.encode(msg.data.decode("utf-8", "replace")))
    return ArchivedMsg(tag, meta.sequence.stream, meta.timestamp, msg.subject, data)


async def archive(
    js: JetStreamContext, bus: BusSettings, directory: Path, cutoff: datetime, purge: bool
) -> ArchiveResult:
    """Write every stream message stored before ``cutoff`` that the archive lacks (into an
    existing ``directory``)."""
    created, last = await stream_identity(js, bus)
    tag = stream_tag(created)
    state = read_state(directory)
    if state.stream != tag:
        state = ArchiveState(tag, 0)  # a new stream: its history starts again at 1
    result = ArchiveResult(last_seq=state.last_seq)
    if last > state.last_seq:
        await _copy(js, bus, directory, cutoff, state, result)
    if purge and result.last_seq:
        before = (await js.stream_info(bus.stream)).state.messages
        await js.purge_stream(bus.stream, seq=result.last_seq + 1)
        result.purged = int(before or 0) - int((await js.stream_info(bus.stream)).state.messages)
    return result


async def _copy(
    js: JetStreamContext,
    bus: BusSettings,
    directory: Path,
    cutoff: datetime,
    state: ArchiveState,
    result: ArchiveResult,
) -> None:
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=state.last_seq + 1
    )
    sub = await ordered(js, f"{bus.prefix}.v1.>", bus.stream, config, owner=bus.identity)
    writer: _DayWriter | None = None
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                break  # nothing more stored
            line = _archived(state.stream, msg)
            if line.time >= cutoff:
                break
            day = line.time.astimezone(UTC).date().isoformat()
            if writer is None or writer.final != day_file(directory, day):
                _close_day(directory, writer, state, result)
                writer = _DayWriter(directory, day, state)
                result.days.append(day)
            writer.write(line)
            result.messages += 1
            result.last_seq = line.seq
            if msg.metadata.num_pending == 0:
                break
        _close_day(directory, writer, state, result)
    finally:
        await sub.unsubscribe()


def _close_day(
    directory: Path, writer: _DayWriter | None, state: ArchiveState, result: ArchiveResult
) -> None:
    if writer is None:
        return
    writer.finish()
    state.last_seq = result.last_seq
    _write_state(directory, state)


@dataclass
class ArchiveCounts:
    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    truncated_files: list[str] = field(default_factory=list)


def read_lines(path: Path, counts: ArchiveCounts) -> Iterator[ArchivedMsg]:
    """Every whole line of a day file; a truncated or damaged file is read up to its last
    whole line and named in ``counts`` (gzip.open would drop the part it was decoding)."""
    for raw in _whole_lines(path, counts):
        try:
            yield _decoder.decode(raw)
        except msgspec.DecodeError:
            counts.bad_lines += 1


def _whole_lines(path: Path, counts: ArchiveCounts) -> Iterator[bytes]:
    inflate, carry, complete = zlib.decompressobj(wbits=31), b"", False
    with path.open("rb") as f:
        while block := f.read(1 << 16):
            try:
                data = inflate.decompress(block)
                while inflate.eof and inflate.unused_data:  # another gzip member follows
                    rest, inflate = inflate.unused_data, zlib.decompressobj(wbits=31)
                    data += inflate.decompress(rest)
            except zlib.error:
                break  # damaged here: what came before stands
            *lines, carry = (carry + data).split(b"\n")
            yield from (line for line in lines if line)
        else:
            complete = inflate.eof
    if complete and carry:
        yield carry
    if not complete:
        counts.truncated_files.append(path.name)


def archive_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ArchiveError(f"no archive directory at {directory}")
    files = sorted(directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))
    if not files:
        raise ArchiveError(f"{directory} holds no archive files ({FILE_PREFIX}DAY{FILE_SUFFIX})")
    return files


def read_archive(directory: Path, counts: ArchiveCounts) -> Iterator[ArchivedMsg]:
    """Every archived message, oldest day first, each (stream, seq) once."""
    files = archive_files(directory)
    last: dict[str, int] = {}  # files are in day order and lines in sequence order
    for path in files:
        counts.files += 1
        for line in read_lines(path, counts):
            if line.seq > last.get(line.stream, 0):
                last[line.stream] = line.seq
                counts.lines += 1
                yield line


async def apply_archive(
    db_path: Path, directory: Path, stream_id: str, batch: int = 2000
) -> tuple[int, ArchiveCounts]:
    """Fold an archive into a fresh read model, in archive order, before the live stream.

    Lines of the stream the hub has now record their sequence, so the processor continues
    right after them; lines of an older stream record none (its sequences mean nothing now).
    Events are idempotent in the read model, so an overlap with the stream is harmless.
    """
    from .processor import Progress
    from .store import open_store

    counts, progress = ArchiveCounts(), Progress()
    current = (stream_tag(stream_id), stream_id)
    archive_files(directory)  # a wrong directory fails before anything is written
    db = await open_store(db_path)
    try:
        pending: list[ArchivedMsg] = []
        for line in read_archive(directory, counts):
            if pending and (len(pending) >= batch or line.stream != pending[-1].stream):
                await _apply(db, pending, current, progress)
                pending = []
            pending.append(line)
        if pending:
            await _apply(db, pending, current, progress)
    finally:
        await db.close()
    return progress.events, counts


async def _apply(
    db: Any, lines: list[ArchivedMsg], current: tuple[str, str], progress: Any
) -> None:
    from .processor import apply_items

    items = [(line.seq, line.subject, bytes(line.data)) for line in lines]
    ours = lines[0].stream == current[0]
    await apply_items(db, items, 0, progress, current[1] if ours else None)
