"""`usagectl prices`: the price table in force, and `prices update` from LiteLLM's file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from usagectl.processors.app.settings import load_settings

group = typer.Typer(
    help="Prices: the table in force; `prices update` merges LiteLLM's file over it.",
    invoke_without_command=True,
)


def _row(p: Any) -> dict[str, Any]:
    row = {
        "model": p.model,
        "effectiveFrom": p.effective_from,
        "input": p.input,
        "output": p.output,
        "cacheWrite5m": p.cache_write_5m,
        "cacheWrite1h": p.cache_write_1h,
        "cacheRead": p.cache_read,
        "fastMultiplier": p.fast_multiplier,
        "regionalPremium": p.regional,
        "source": p.source,
    }
    if p.band is not None:
        b = p.band
        row["band"] = {
            "aboveTokens": p.band_threshold,
            "input": b.input,
            "output": b.output,
            "cacheWrite5m": b.cache_write_5m,
            "cacheWrite1h": b.cache_write_1h,
            "cacheRead": b.cache_read,
        }
    return row


def _usd(v: float) -> str:
    return f"{v:g}"


@group.callback()
def prices(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="the table as JSON")] = False,
) -> None:
    """The price table in force (USD per million tokens): rates, dates, sources, and where it
    came from (bundled, or bundled with a kept LiteLLM update merged over it)."""
    if ctx.invoked_subcommand is not None:
        return
    from usagectl.processors.prices import table_for
    from usagectl.projections.price_table import GEO_MULTIPLIERS, REGIONAL_PREMIUM

    table, kept = table_for(load_settings().home)
    rows = [_row(p) for p in table.prices()]
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "origin": table.origin,
                    "update": None
                    if kept is None
                    else {"source": kept.source, "day": kept.day, "file": str(kept.path)},
                    "unit": "USD per million tokens",
                    "inferenceGeoMultipliers": GEO_MULTIPLIERS,
                    "regionalPremium": REGIONAL_PREMIUM,
                    "prices": rows,
                },
                indent=2,
            )
        )
        return
    out = Table(title=f"Prices in force — {table.origin}", header_style="bold")
    for label in (
        "Model",
        "From",
        "Input",
        "Output",
        "5m write",
        "1h write",
        "Cache read",
        "Band / fast",
        "Source",
    ):
        out.add_column(label, justify="right" if label[0] in "IO51C" else "left")
    for r in rows:
        extra = []
        if "band" in r:
            extra.append(
                f">{r['band']['aboveTokens']:,}: {_usd(r['band']['input'])}/"
                f"{_usd(r['band']['output'])}"
            )
        if r["fastMultiplier"]:
            extra.append(f"fast {r['fastMultiplier']:g}x")
        out.add_row(
            r["model"],
            r["effectiveFrom"] or "",
            *(_usd(r[k]) for k in ("input", "output", "cacheWrite5m", "cacheWrite1h", "cacheRead")),
            ", ".join(extra),
            r["source"],
        )
    console = Console()
    console.print(out)
    console.print(
        f'inference_geo "us": x{GEO_MULTIPLIERS["us"]:g} on every category; '
        f"Bedrock regional endpoints: x{REGIONAL_PREMIUM:g}"
    )


@group.command()
def update(
    source: Annotated[
        str | None,
        typer.Option("--from", help="a LiteLLM model_prices_and_context_window.json: path or URL"),
    ] = None,
    recost: Annotated[
        bool, typer.Option("--recost/--no-recost", help="rebuild the read model's costs")
    ] = True,
) -> None:
    """Merge LiteLLM's price file over the bundled table (a known price never becomes 0 or
    unknown), keep it in the data directory, and recost the read model. Without --from it is
    fetched from LiteLLM on GitHub: the only time usagectl goes to the network for prices."""
    from usagectl.processors.prices import DEFAULT_URL, fetch, parse, store
    from usagectl.projections.litellm import merged

    settings = load_settings()
    origin = source or DEFAULT_URL
    data = fetch(origin)
    found = parse(data, origin)
    day = datetime.now(UTC).date().isoformat()
    _, added, changed = merged(found, day)
    kept = store(settings.home, data, origin, day)
    err = Console(stderr=True)
    err.print(
        f"kept {kept.path}: {len(found)} Claude models; {len(added)} newly priced"
        f"{': ' + ', '.join(added) if added else ''}; {len(changed)} changed from {day}"
        f"{': ' + ', '.join(changed) if changed else ''}",
        soft_wrap=True,
    )
    if recost and settings.db_path.exists():
        _recost(settings, err)


def _recost(settings: Any, err: Console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from usagectl.processors.app.locks import Busy
    from usagectl.processors.app.roles import run_replay

    from .event_loop import run_async

    bar = Progress(
        TextColumn("[bold]recost"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task("recost", total=None)

        def progress(seq: int, target: int) -> None:
            bar.update(task, completed=min(seq, target), total=target)

        try:
            result = run_async(run_replay(settings, None, progress))
        except Busy:
            from usagectl.processors.app.errors import UserError

            raise UserError(
                "the prices are kept, but another usagectl (up or processor) holds the read "
                "model: stop it and run `usagectl replay` to recost (it prices with the new "
                "table once restarted)"
            ) from None
    err.print(
        f"recosted {result.events:,} usage events: the read model was rebuilt with these prices"
    )
