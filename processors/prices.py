"""The price update kept in the data directory: LiteLLM's file as fetched, and where it came
from. Every process that prices responses installs the merged table at start (``activate``);
nothing here touches the network unless ``fetch`` is called (``usagectl prices update``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import msgspec
from usagectl.projections.litellm import NotAPriceFile, claude_prices, merged
from usagectl.projections.pricing import BUNDLED, ModelPrice, PriceTable, use_table

DEFAULT_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)
FILE_NAME = "model_prices_and_context_window.json"
MAX_BYTES = 64 << 20  # ccusage's cap too: the real file is a few MB
TIMEOUT_S = 30.0


class PriceUpdateFailed(Exception):
    """A price file that cannot be used: nothing was changed."""

    user_facing = True


@dataclass(frozen=True)
class Stored:
    source: str
    day: str
    path: Path


def price_dir(home: Path) -> Path:
    return home / "prices"


def fetch(source: str) -> bytes:
    """The bytes of a local file or an http(s) URL; one clear error otherwise."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=TIMEOUT_S) as r:
                data: bytes = r.read(MAX_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise PriceUpdateFailed(f"cannot fetch {source}: {reason}") from None
    else:
        try:
            with open(source, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as err:
            raise PriceUpdateFailed(f"cannot read {source}: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise PriceUpdateFailed(f"{source} is larger than {MAX_BYTES >> 20} MB: not a price file")
    return data


def parse(data: bytes, source: str) -> dict[str, ModelPrice]:
    try:
        decoded = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise PriceUpdateFailed(f"{source} is not JSON: not a LiteLLM price file") from None
    try:
        return claude_prices(decoded, f"LiteLLM ({source})")
    except NotAPriceFile as err:
        raise PriceUpdateFailed(f"{source} is not a LiteLLM price file: {err}") from None


def store(home: Path, data: bytes, source: str, day: str) -> Stored:
    """Keep the file and its origin; both replace the previous ones atomically."""
    folder = price_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in ((FILE_NAME, data), ("source.json", _meta(source, day))):
        tmp = folder / f".{name}.{os.getpid()}"
        tmp.write_bytes(content)
        os.replace(tmp, folder / name)
    return Stored(source, day, folder / FILE_NAME)


def _meta(source: str, day: str) -> bytes:
    return json.dumps({"source": source, "day": day}, indent=1).encode() + b"\n"


def stored(home: Path) -> Stored | None:
    folder = price_dir(home)
    try:
        meta = json.loads((folder / "source.json").read_text())
        source, day = str(meta["source"]), str(meta["day"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    path = folder / FILE_NAME
    return Stored(source, day, path) if path.exists() else None


def table_for(home: Path) -> tuple[PriceTable, Stored | None]:
    """The bundled table, with the kept update merged over it when there is one. A kept file
    that became unreadable prices with the bundled table rather than stopping a processor."""
    kept = stored(home)
    if kept is None:
        return BUNDLED, None
    try:
        prices = parse(kept.path.read_bytes(), kept.source)
    except (OSError, PriceUpdateFailed):
        return BUNDLED, None
    table, _, _ = merged(prices, kept.day)
    table.origin = f"bundled + LiteLLM from {kept.source} ({kept.day})"
    return table, kept


def activate(home: Path) -> PriceTable:
    table, _ = table_for(home)
    use_table(table)
    return table
