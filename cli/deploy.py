"""`usagectl deploy hub-config`: a hub's nats-server config and every machine's config.toml,
with a generated secret per machine. Secrets go into files (mode 600), never to the screen."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
from usagectl.processors.app.errors import UserError

group = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Configuration for running your own hub (several machines, one place).",
)


@group.command("hub-config")
def hub_config(
    machine: Annotated[
        list[str] | None,
        typer.Option(
            "--machine",
            "-m",
            metavar="NAME",
            help="a machine that publishes its usage (repeat); its usagectl machine id",
        ),
    ] = None,
    reader: Annotated[
        list[str] | None,
        typer.Option(
            "--reader", metavar="NAME", help="a user that may only read (watch, reports; repeat)"
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="how machines reach the hub (default nats://<this host>:4222)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="directory to write into")] = Path("usagectl-hub"),
    listen: Annotated[str, typer.Option(help="the hub's client address")] = "0.0.0.0:4222",
    store: Annotated[
        Path | None, typer.Option(help="JetStream store directory (default OUT/jetstream)")
    ] = None,
    nkey: Annotated[
        bool, typer.Option("--nkey", help="an nkey seed per machine instead of a password")
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, resolve_path=True, help="the hub's TLS certificate"
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, resolve_path=True, help="its private key"),
    ] = None,
    tls_ca: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            resolve_path=True,
            help="the CA that signed --tls-cert: copied beside every machine's config",
        ),
    ] = None,
    mutual: Annotated[
        bool, typer.Option("--mutual", help="clients must show a certificate signed by --tls-ca")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="replace an existing OUT/hub.conf (every secret changes)"),
    ] = False,
) -> None:
    """Write OUT/hub.conf (nats-server -c OUT/hub.conf) and a config.toml per machine, per
    reader and for the hub's admin. Each machine may publish only its own usage."""
    from . import hubconfig

    machines, readers = list(machine or []), list(reader or [])
    if not machines and not readers:
        raise UserError("name at least one machine: --machine NAME (repeat for each)")
    if (tls_cert is None) != (tls_key is None):
        raise UserError("--tls-cert and --tls-key go together")
    if (tls_ca or mutual) and tls_cert is None:
        raise UserError("--tls-ca and --mutual need --tls-cert and --tls-key")
    if mutual and tls_ca is None:
        raise UserError("--mutual needs --tls-ca (the CA that signs the clients' certificates)")
    if (out / "hub.conf").exists() and not force:
        raise UserError(f"{out / 'hub.conf'} exists: --force replaces it and every secret")
    tls = None
    if tls_cert is not None and tls_key is not None:
        tls = hubconfig.Tls(str(tls_cert), str(tls_key), str(tls_ca) if tls_ca else None, mutual)
    scheme = "tls" if tls else "nats"
    port = listen.rsplit(":", 1)[-1]
    hub_url = url or f"{scheme}://{socket.gethostname()}:{port}"
    store_dir = (store or out / "jetstream").expanduser().absolute()
    made = hubconfig.generate(
        out, machines, readers, hub_url, nkey=nkey, tls=tls, listen=listen, store_dir=str(store_dir)
    )
    typer.echo(f"wrote {made.hub_conf}: the hub's nats-server config (secrets inside, mode 600)")
    for name, path in made.configs.items():
        if name == hubconfig.ADMIN:
            typer.echo(f"wrote {path}: the hub's admin, for `usagectl processor` on the hub")
        else:
            typer.echo(
                f"wrote {path}: copy to {name!r} as its config.toml "
                "(`usagectl config path` there says where)"
            )
    if tls is not None and tls.mutual:
        typer.echo(
            "each machine also needs client-cert.pem and client-key.pem beside its "
            "config.toml, signed by --tls-ca"
        )
    typer.echo(f"start the hub: nats-server -c {made.hub_conf}   (machines connect to {hub_url})")
