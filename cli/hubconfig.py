"""A hub's nats-server configuration and each machine's usagectl config, generated.

One account holds usagectl's streams. Its users:

- the hub's admin (no restrictions): creates and configures the streams, runs the hub's
  ``usagectl processor``;
- one user per machine: may publish only its own subjects ``<prefix>.v1.*.<machine>`` (facts
  and heartbeats), read the streams' state, keep its own durable consumers
  (``processor_<machine>``, ``replay_<machine>``), follow the stream live (``watch``, through
  named ordered consumers) and receive replies on its own inbox ``_INBOX_<machine>``; it may
  not create, change, purge or delete a stream, publish as another machine, use the unnamed
  consumer-create API, or create a consumer under another member's or the hub's durable name;
- readers (a dashboard, a phone): the same reading rights, and no subject of usagectl's to
  publish on at all.

Machine names go through the same encoding as the subjects (``encode_token``), so a name with
dots, spaces, wildcards or unicode gets exactly the one token its events are published on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from usagectl.processors.bus import DURABLES
from usagectl.processors.consumer_runner import durable_name
from usagectl.processors.consumers import installed
from usagectl.processors.hubconn import BusSettings, default_inbox_prefix
from usagectl.projections.events import DEFAULT_PREFIX, encode_token

ACCOUNT = "USAGECTL"
ADMIN = "hub"


@dataclass(frozen=True)
class Member:
    """A user of the hub: a machine that publishes, or a reader that only reads."""

    name: str
    role: str  # "machine" | "reader"
    secret: str  # the password, or for nkey auth the public key (the seed stays with it)
    nkey: bool = False


@dataclass(frozen=True)
class Tls:
    cert: str  # the hub's certificate and key
    key: str
    ca: str | None = None  # the CA that signed it: copied to every machine as ca.pem
    mutual: bool = False  # clients must show a certificate signed by ``ca``


def _durables(name: str, prefix: str) -> list[str]:
    bus = BusSettings(url="", prefix=prefix, identity=name)
    durables = [bus.durable(base) for base in DURABLES]
    # Plug-in consumers installed here (alerts, anyone's) keep a durable per machine too.
    return durables + [durable_name(consumer, name) for consumer in installed()]


def read_permissions(
    name: str, prefix: str = DEFAULT_PREFIX, others: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Publish subjects a reader named ``name`` needs: JetStream's API for its own durable
    consumers, named ordered consumers for `watch` and the streams' state; nothing else.

    Not the unnamed create API: a config sent there naming an existing durable updates it,
    whoever owns it. Named creates are allowed (ordered consumers take random names), except
    under the names of ``others``' durables (every other user of the hub, and its admin)."""
    bus = BusSettings(url="", prefix=prefix, identity=name)
    stream, beats = bus.stream, bus.heartbeat_stream
    allow = [f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.STREAM.INFO.{beats}"]
    for durable in _durables(name, prefix):
        allow += [
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.DELETE.{stream}.{durable}",
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    for s in (stream, beats):
        allow += [f"$JS.API.CONSUMER.CREATE.{s}.*", f"$JS.API.CONSUMER.CREATE.{s}.*.>"]
    allow += [f"$JS.FC.{stream}.>", f"$JS.FC.{beats}.>"]
    deny = []
    for other in sorted(set(others) - {name}):
        for durable in _durables(other, prefix):
            deny += [f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
                     f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>"]  # fmt: skip
    return {"allow": allow, "deny": deny} if deny else {"allow": allow}


def permissions(
    member: Member, prefix: str = DEFAULT_PREFIX, others: tuple[str, ...] = ()
) -> dict[str, dict[str, list[str]]]:
    publish = read_permissions(member.name, prefix, others)
    if member.role == "machine":
        publish["allow"].insert(0, f"{prefix}.v1.*.{encode_token(member.name)}")
    else:
        publish["deny"] = [f"{prefix}.>", *publish.get("deny", [])]
    inbox = default_inbox_prefix(member.name)
    return {"publish": publish, "subscribe": {"allow": [f"{inbox}.>"]}}


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _list(items: list[str], indent: str) -> str:
    inner = "".join(f"\n{indent}  {_q(s)}" for s in items)
    return f"[{inner}\n{indent}]"


def _user(member: Member, prefix: str, others: tuple[str, ...]) -> str:
    perms = permissions(member, prefix, others)
    pad = " " * 10
    lines = [f"        # {member.role} {member.name!r}"]
    ident = f"nkey: {_q(member.secret)}" if member.nkey else (
        f"user: {_q(member.name)}, password: {_q(member.secret)}"
    )  # fmt: skip
    lines.append(f"        {{ {ident}, permissions: {{")
    for direction in ("publish", "subscribe"):
        parts = [f"{k}: {_list(v, pad + '  ')}" for k, v in perms[direction].items()]
        lines.append(f"{pad}{direction}: {{ " + f"\n{pad}  ".join(parts) + " }")
    lines.append("        } }")
    return "\n".join(lines)


def render_hub_conf(
    admin_password: str,
    members: list[Member],
    *,
    listen: str = "0.0.0.0:4222",
    monitor: str | None = "127.0.0.1:8222",
    store_dir: str = "/var/lib/usagectl-hub",
    tls: Tls | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    out = [
        "# A usagectl hub: JetStream, one account, a user per machine that may publish only",
        "# its own subjects, and readers that may only read. Generated by",
        "# `usagectl deploy hub-config`; keep it readable by the server only (it holds secrets).",
        "server_name: usagectl-hub",
        f"listen: {listen}",
    ]
    if monitor:
        out.append(f"http: {monitor}")
    out += [
        "jetstream {",
        f"  store_dir: {_q(store_dir)}",
        "  # Fsync before acknowledging: slower, but a power cut loses nothing acknowledged.",
        "  # sync_interval: always",
        "}",
    ]
    if tls is not None:
        out += ["tls {", f"  cert_file: {_q(tls.cert)}", f"  key_file: {_q(tls.key)}"]
        if tls.ca and tls.mutual:
            out += [f"  ca_file: {_q(tls.ca)}", "  verify: true  # mutual TLS: clients show a cert"]
        out += ["  timeout: 2", "}"]
    out += [
        "accounts {",
        f"  {ACCOUNT}: {{",
        "    jetstream: enabled",
        "    users: [",
        "        # the hub's admin: creates the streams, runs the hub's `usagectl processor`",
        f"        {{ user: {_q(ADMIN)}, password: {_q(admin_password)} }}",
    ]
    everyone = (ADMIN, *(m.name for m in members))
    out += [_user(m, prefix, everyone) for m in members]
    out += ["    ]", "  }", "}", ""]
    return "\n".join(out)


def render_machine_toml(
    name: str,
    url: str,
    *,
    user: str | None,
    password: str | None,
    nkey_seed: str | None = None,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    role: str = "machine",
) -> str:
    what = {"machine": "machine", "reader": "reader", "admin": "hub admin"}[role]
    out = [
        f"# usagectl config for {what} {name!r}, generated by `usagectl deploy hub-config`.",
        "# Put it at <data dir>/config.toml (`usagectl config path` says where); it holds a",
        "# secret, so keep it private (chmod 600).",
        f"machine = {_q(name)}",
        "",
        "[hub]",
        f"url = {_q(url)}",
    ]
    if user is not None:
        out.append(f"user = {_q(user)}")
    if password is not None:
        out.append(f"password = {_q(password)}")
    for key, value in (("nkey_seed", nkey_seed), ("tls_ca", tls_ca), ("tls_cert", tls_cert),
                       ("tls_key", tls_key)):  # fmt: skip
        if value is not None:
            out.append(f"{key} = {_q(value)}  # relative to this file")
    return "\n".join(out) + "\n"


def new_nkey() -> tuple[str, str]:
    """A fresh user nkey: (seed, public key)."""
    import nkeys

    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key
    return seed.decode(), public.decode()


def new_password() -> str:
    return secrets.token_urlsafe(24)


def write_private(path: Path, text: str) -> None:
    """Create or replace a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Generated:
    hub_conf: Path
    configs: dict[str, Path]  # member (and the admin, "hub") -> its config.toml


def _check_names(machines: list[str], readers: list[str]) -> None:
    from usagectl.processors.app.errors import UserError

    seen: dict[str, str] = {}
    for name in [*machines, *readers]:
        if not name.strip():
            raise UserError("a machine or reader name must not be empty")
        if name == ADMIN:
            raise UserError(f"{ADMIN!r} is the hub admin's user: name the machine differently")
        if encode_token(name) in seen:
            raise UserError(
                f"{name!r} is given twice (or clashes with {seen[encode_token(name)]!r})"
            )
        seen[encode_token(name)] = name


def _tls_lines(tls: Tls | None, where: Path) -> dict[str, str]:
    """A member's TLS keys: the hub's CA (copied beside its config), its own cert with mutual
    TLS (to be issued per machine: the hub's README says how)."""
    if tls is None:
        return {}
    keys: dict[str, str] = {}
    if tls.ca:
        write_private(where / "ca.pem", Path(tls.ca).read_text())
        keys["tls_ca"] = "ca.pem"
    if tls.mutual:
        keys |= {"tls_cert": "client-cert.pem", "tls_key": "client-key.pem"}
    return keys


def generate(
    out: Path,
    machines: list[str],
    readers: list[str],
    url: str,
    *,
    nkey: bool = False,
    tls: Tls | None = None,
    listen: str = "0.0.0.0:4222",
    store_dir: str = "/var/lib/usagectl-hub",
    password: Callable[[], str] = new_password,
) -> Generated:
    """Write ``out/hub.conf``, ``out/hub/config.toml`` for the hub's admin and
    ``out/{machines,readers}/<name>/config.toml`` (with ``<name>.nk`` seeds for nkey auth)."""
    _check_names(machines, readers)
    members: list[Member] = []
    configs: dict[str, Path] = {}
    roles = [*((m, "machine") for m in machines), *((r, "reader") for r in readers)]
    for name, role in roles:
        where = out / f"{role}s" / encode_token(name)
        tls_keys = _tls_lines(tls, where)
        if nkey:
            seed, public = new_nkey()
            write_private(where / "user.nk", seed + "\n")
            members.append(Member(name, role, public, nkey=True))
            text = render_machine_toml(name, url, user=None, password=None, role=role,
                                       nkey_seed="user.nk", **tls_keys)  # fmt: skip
        else:
            secret = password()
            members.append(Member(name, role, secret))
            text = render_machine_toml(name, url, user=name, password=secret, role=role,
                                       **tls_keys)  # fmt: skip
        write_private(where / "config.toml", text)
        configs[name] = where / "config.toml"
    admin = password()
    admin_dir = out / "hub"
    admin_toml = render_machine_toml(
        ADMIN, url, user=ADMIN, password=admin, role="admin", **_tls_lines(tls, admin_dir)
    )
    write_private(admin_dir / "config.toml", admin_toml)
    configs[ADMIN] = admin_dir / "config.toml"
    hub_conf = out / "hub.conf"
    write_private(hub_conf, render_hub_conf(admin, members, listen=listen, store_dir=store_dir,
                                            tls=tls))  # fmt: skip
    return Generated(hub_conf, configs)
