"""The producer: tails this machine's transcripts and publishes normalised events.

Backfill puts many events in one message with several messages in flight (throughput); live
events go out one by one (latency). Every message carries a Nats-Msg-Id derived from its
events, so a retry after a timeout is stored once. A file's offset is checkpointed only after
the broker acknowledged everything before it: at-least-once publishing, exactly-once effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck
from usagectl.projections.events import Usage, UsageBatch, encode, subject
from usagectl.projections.transcript import FileContext, Skipped, file_context, normalise_line

from .checkpoints import Checkpoints, FileState, ReadResult
from .discovery import describe, root_of, session_files
from .identity import fingerprint
from .projects import FileProjects
from .tailer import Chunk, plan_read, read_chunks

BATCH_EVENTS = 400
LIVE_SINGLE_MAX = 16
IN_FLIGHT_CHUNKS = 32
ACK_TIMEOUT_S = 5.0  # acks come in milliseconds; longer means the hub went away
# Backoff 0.2, 0.4 ... capped at 5 s: about half a minute, past a cluster's leader election
# (publishes get "no responders" for ~5 s after a stream leader dies).
PUBLISH_RETRIES = 10
# A complete last line without its newline counts once its file was quiet this long: Claude
# Code may never write that newline, but a writer in mid-line is never quiet for seconds.
QUIET_TAIL_NS = 2_000_000_000


class PublishFailed(Exception):
    """The hub did not acknowledge events after retries; nothing was checkpointed past them."""

    user_facing = True


@dataclass
class SyncStats:
    files: int = 0
    bytes: int = 0
    lines: int = 0
    events: int = 0
    rejected: int = 0
    backlog_bytes: int = 0
    unreadable: int = 0  # files skipped this time (permission, I/O): tried again later


@dataclass
class _Pending:
    futures: list[asyncio.Future[PubAck]]
    result: ReadResult
    batches: list[tuple[str, bytes]] = field(default_factory=list)


def batch_id(events: list[Usage]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for e in events:
        h.update(e.event_id.encode())
    return "b:" + h.hexdigest()


class Producer:
    def __init__(
        self,
        js: JetStreamContext,
        prefix: str,
        roots: list[Path],
        machine: str,
        account: str,
        checkpoints: Checkpoints,
    ) -> None:
        self.js = js
        self.subject = subject(prefix, "usage", machine)
        self.roots = roots
        self.machine = machine
        self.account = account
        self.checkpoints = checkpoints
        self.known: dict[str, FileState] = checkpoints.load()
        self.stats = SyncStats()
        self.on_progress: Callable[[SyncStats], None] | None = None
        self._in_flight: deque[_Pending] = deque()
        self._lock = asyncio.Lock()
        self._touched: set[str] = set()
        self.unreadable: dict[str, str] = checkpoints.unreadable()
        # Files whose complete-looking last line waits for quiet: path -> mtime_ns when read.
        self.held: dict[str, int] = {}
        self.tails_waiting = asyncio.Event()
        self._projects = FileProjects()

    def files(self) -> list[Path]:
        """Every transcript; folders that cannot be listed are recorded as unreadable, and
        what is no longer there is no longer reported."""
        failed: dict[str, str] = {}
        found = [f for root in self.roots for f in session_files(root, failed)]
        for path, reason in failed.items():
            self._failed(path, reason)
        for gone in set(self.unreadable) - set(failed) - {str(f) for f in found}:
            del self.unreadable[gone]
            self.checkpoints.file_read(gone)
        return found

    async def sync_all(
        self, stop: asyncio.Event | None = None, *, tails_at_once: bool = False
    ) -> SyncStats:
        """Publish everything new in every transcript once, then wait for the last acks.

        ``tails_at_once``: a complete unterminated last line counts now (a one-off ``sync``),
        not only after its file was quiet for a moment."""
        async with self._exclusive():
            files = self.files()
            self.stats.backlog_bytes = sum(self._unread(p) for p in files)
            for path in files:
                if stop is not None and stop.is_set():
                    break
                await self._ingest(path, live=False, tails_at_once=tails_at_once)
            await self._drain(0)
        return self.stats

    async def ingest(self, path: Path, *, live: bool) -> None:
        """Publish what is new in one file and wait until all of it is acknowledged."""
        async with self._exclusive():
            await self._ingest(path, live=live)
            await self._drain(0)

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """One reader of the files at a time (the watcher and the sweep both call in), and on
        failure a rewind: past the last commit nothing is known to be acknowledged."""
        async with self._lock:
            try:
                yield
            except BaseException:
                self._in_flight.clear()
                self.known = self.checkpoints.load()
                raise

    def _unread(self, path: Path) -> int:
        known = self.known.get(str(path))
        try:
            size = path.stat().st_size
        except OSError:
            return 0
        return size if known is None or size < known.offset else size - known.offset

    async def _ingest(self, path: Path, *, live: bool, tails_at_once: bool = False) -> None:
        root = root_of(path, self.roots)
        self.held.pop(str(path), None)
        try:
            plan = plan_read(str(path), self.known.get(str(path)))
        except OSError as err:  # e.g. a folder on the way that we may not enter
            self._failed(str(path), err)
            return
        if root is None or plan is None:
            return
        state, reset = plan
        quiet = tails_at_once or time.time_ns() - state.mtime_ns >= QUIET_TAIL_NS
        ctx = file_context(str(root), str(path), self.machine, self.account)
        self._touched.add(state.path)
        self.stats.files = len(self._touched)
        first = True
        for chunk in self._readable(read_chunks(str(path), state.offset, tail=quiet), state.path):
            result = ReadResult(state=state, reset=reset and first)
            first = False
            events = self._normalise(ctx, chunk.lines, result)
            self.stats.bytes += chunk.end - state.offset
            state = FileState(
                state.path,
                state.inode,
                chunk.end,
                state.size,
                state.mtime_ns,
                state.lines + result.lines,
                state.events + result.events,
                fingerprint(state.path, chunk.end),
            )
            result.state = state
            self.known[state.path] = state
            if live and len(events) <= LIVE_SINGLE_MAX:
                await self._drain(0)
                await self._publish_singly(events, result)
                self.checkpoints.commit([result])
                if self.on_progress is not None:
                    self.on_progress(self.stats)
            else:
                self._in_flight.append(self._publish_batches(events, result))
                await self._drain(IN_FLIGHT_CHUNKS)
        if not quiet and state.offset < state.size:
            self.held[state.path] = state.mtime_ns
            self.tails_waiting.set()
        if first and (reset or state.offset < state.size):
            # No complete line yet: the restart from 0 of a shrunk file must be remembered
            # anyway, and so must the bytes held at the end (doctor shows them).
            self._in_flight.append(_Pending([], ReadResult(state=state, reset=reset)))

    def _readable(self, chunks: Iterator[Chunk], path: str) -> Iterator[Chunk]:
        """The file's chunks until it cannot be read (mode 000, an I/O error): then that file
        alone is skipped, what was read of it stands, and the next pass tries it again."""
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                if path in self.unreadable:
                    del self.unreadable[path]
                    self.checkpoints.file_read(path)
                return
            except OSError as err:
                self._failed(path, err)
                return
            yield chunk

    def _failed(self, path: str, err: OSError | str) -> None:
        reason = err if isinstance(err, str) else describe(err)
        self.stats.unreadable += 1
        if self.unreadable.get(path) != reason:
            self.unreadable[path] = reason
            self.checkpoints.file_failed(path, reason, int(time.time() * 1000))

    def _normalise(
        self, ctx: FileContext, lines: list[tuple[int, bytes]], result: ReadResult
    ) -> list[Usage]:
        events: list[Usage] = []
        for offset, line in lines:
            parsed = normalise_line(ctx, offset, line)
            if isinstance(parsed, Skipped):
                key = (parsed.reason, parsed.rejected)
                result.reasons[key] = result.reasons.get(key, 0) + 1
                self.stats.rejected += parsed.rejected
            else:
                events.extend(self._with_project(ctx, e) for e in parsed)
        result.lines = len(lines)
        result.events = len(events)
        self.stats.lines += len(lines)
        self.stats.events += len(events)
        return events

    def _with_project(self, ctx: FileContext, event: Usage) -> Usage:
        """A line without a cwd takes its file's; the folder name only when no line has one."""
        if event.project != ctx.project_dir:
            return event
        cwd = self._projects.project_for(ctx.path)
        return event if cwd is None else msgspec.structs.replace(event, project=cwd)

    def _publish_batches(self, events: list[Usage], result: ReadResult) -> _Pending:
        pending = _Pending([], result)
        for i in range(0, len(events), BATCH_EVENTS):
            part = events[i : i + BATCH_EVENTS]
            pending.batches.append((batch_id(part), encode(UsageBatch(tuple(part)))))
        return pending

    async def _send(self, pending: _Pending) -> None:
        pending.futures = [
            await self.js.publish_async(self.subject, data, headers={"Nats-Msg-Id": msg_id})
            for msg_id, data in pending.batches
        ]

    async def _drain(self, keep: int) -> None:
        """Start every queued publish; past ``2 * keep`` in flight, settle the oldest down to
        ``keep`` and checkpoint them in one transaction (small files make many chunks)."""
        for pending in self._in_flight:
            if not pending.futures and pending.batches:
                await self._send(pending)
        if keep and len(self._in_flight) <= 2 * keep:
            return
        settled: list[ReadResult] = []
        try:
            while len(self._in_flight) > keep:
                await self._settle(self._in_flight[0])
                settled.append(self._in_flight.popleft().result)
        finally:
            if settled:
                self.checkpoints.commit(settled)
        if self.on_progress is not None:
            self.on_progress(self.stats)

    async def _settle(self, pending: _Pending) -> None:
        for attempt in range(PUBLISH_RETRIES):
            if not pending.futures:
                return
            done, waiting = await asyncio.wait(pending.futures, timeout=ACK_TIMEOUT_S)
            failed = [f for f in done if f.exception() is not None]  # every one retrieved
            if not waiting and not failed:
                pending.result.acked_seq = max(f.result().seq for f in done)
                return
            await asyncio.sleep(min(2**attempt * 0.2, 5))
            await self._resend_unsettled()
        raise PublishFailed(f"the hub did not acknowledge events from {pending.result.state.path}")

    async def _resend_unsettled(self) -> None:
        """Re-publish, with the same ids (stored once), everything in flight not yet acked.

        Unanswered futures may never resolve, and what went out during an outage (a leader
        election, a reconnect) is lost for every chunk in flight, not only the oldest: one
        timeout resends them all, instead of one timeout per chunk.
        """
        for pending in self._in_flight:
            settled = pending.futures and all(
                f.done() and not f.cancelled() and f.exception() is None for f in pending.futures
            )
            if settled or not pending.batches:
                continue
            for f in pending.futures:
                f.cancel()
            await self._send(pending)

    async def _publish_singly(self, events: list[Usage], result: ReadResult) -> None:
        for event in events:
            data = encode(event)
            for attempt in range(PUBLISH_RETRIES):
                try:
                    ack = await self.js.publish(
                        self.subject, data, headers={"Nats-Msg-Id": event.event_id}, timeout=5
                    )
                    result.acked_seq = max(result.acked_seq, ack.seq)
                    break
                except (TimeoutError, nats.errors.Error):
                    if attempt == PUBLISH_RETRIES - 1:
                        raise PublishFailed(
                            f"the hub did not acknowledge {event.event_id}"
                        ) from None
                    await asyncio.sleep(min(2**attempt * 0.2, 5))
