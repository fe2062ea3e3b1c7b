"""Decentralized (operator/JWT) NATS auth without the `nsc` tool: nkeys sign the JWTs.

Enough of the NATS JWT v2 format for a server in operator mode with a memory resolver, an
account with JetStream, and users with permissions, written as ``.creds`` files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Key:
    seed: str
    public: str

    @staticmethod
    def new(prefix: int) -> Key:
        seed = nkeys.encode_seed(secrets.token_bytes(32), prefix)
        return Key(seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode())

    def sign(self, data: bytes) -> bytes:
        return bytes(nkeys.from_seed(bytearray(self.seed.encode())).sign(data))


def encode(issuer: Key, subject: str, name: str, nats: dict[str, Any]) -> str:
    claims: dict[str, Any] = {"jti": "", "iat": int(time.time()), "iss": issuer.public}
    claims |= {"name": name, "sub": subject, "nats": {**nats, "version": 2}}
    claims["jti"] = base64.b32encode(
        hashlib.sha512(json.dumps(claims).encode()).digest()[:32]
    ).decode().rstrip("=")  # fmt: skip
    signing_input = f"{_b64(json.dumps(HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(issuer.sign(signing_input.encode()))}"


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
             "wildcards": True, "conn": -1, "leaf": -1}  # fmt: skip
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


@dataclass(frozen=True)
class Operator:
    """An operator, a system account and one account with JetStream."""

    key: Key
    jwt: str
    sys: Key
    sys_jwt: str
    account: Key
    account_jwt: str

    @staticmethod
    def new() -> Operator:
        op = Key.new(nkeys.PREFIX_BYTE_OPERATOR)
        sys = Key.new(nkeys.PREFIX_BYTE_ACCOUNT)
        acc = Key.new(nkeys.PREFIX_BYTE_ACCOUNT)
        return Operator(
            op, encode(op, op.public, "usagectl-op", {"type": "operator",
                                                         "system_account": sys.public}),
            sys, encode(op, sys.public, "SYS", {"type": "account", "limits": UNLIMITED}),
            acc, encode(op, acc.public, "USAGECTL", {"type": "account",
                                                     "limits": {**UNLIMITED, **JETSTREAM}}),
        )  # fmt: skip

    def server_conf(self, store: Path) -> str:
        return "\n".join([
            f"operator: {self.jwt}",
            f"system_account: {self.sys.public}",
            "resolver: MEMORY",
            "resolver_preload: {",
            f"  {self.sys.public}: {self.sys_jwt}",
            f"  {self.account.public}: {self.account_jwt}",
            "}",
            "jetstream {",
            f'  store_dir: "{store}"',
            "}",
            "",
        ])  # fmt: skip

    def creds(self, name: str, permissions: dict[str, dict[str, list[str]]] | None,
              path: Path) -> Path:  # fmt: skip
        """A user of the account as a .creds file; ``permissions`` as in hub.conf
        (``{"publish": {"allow": [...]}, "subscribe": {...}}``), None for no limits."""
        user = Key.new(nkeys.PREFIX_BYTE_USER)
        nats: dict[str, Any] = {"type": "user", "subs": -1, "data": -1, "payload": -1}
        if permissions:
            nats["pub"] = permissions.get("publish", {})
            nats["sub"] = permissions.get("subscribe", {})
        token = encode(self.account, user.public, name, nats)
        path.write_text(
            "-----BEGIN NATS USER JWT-----\n"
            f"{token}\n"
            "------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"{user.seed}\n"
            "------END USER NKEY SEED------\n"
        )
        path.chmod(0o600)
        return path
