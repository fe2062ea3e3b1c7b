"""TLS to the hub, end to end: the hub's certificate verified against the configured CA, and
mutual TLS (deploy/hub-tls.conf as committed) where each machine shows its own certificate.
Certificates are made here (cryptography); real nats-servers, real usagectl processes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TypedDict

import pytest
from conftest import Env, make_env
from corpus import generate
from deploy_examples import example_password
from hubs import (
    DEPLOY,
    Hub,
    Pki,
    assert_no_secret,
    hub_from,
    make_pki,
    one_line,
    wait_for_guard,
    write_toml,
)
from usagectl.cli.hubconfig import ADMIN, render_machine_toml


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


class ClientTls(TypedDict):
    """A machine's own certificate settings, passed on to tls_member as keywords."""

    tls_ca: str
    tls_cert: str
    tls_key: str


def tls_member(
    where: Path, name: str, hub: Hub, role: str = "machine", guarded: bool = True,
    **keys: str | None,
) -> Env:  # fmt: skip
    env = make_env(where / name, None)
    env.machine = name
    user = keys.pop("user", None)
    password = keys.pop("password", None)
    write_toml(env.home, render_machine_toml(name, hub.url, user=user, password=password,
                                             role=role, guarded=guarded, **keys))  # fmt: skip
    return env


def guard_of(admin: Env, hub: Hub) -> subprocess.Popen[bytes]:
    """The hub admin's processor, which vets the machines' JetStream requests."""
    processor = admin.popen("processor")
    wait_for_guard(hub)
    return processor


def stop(processor: subprocess.Popen[bytes] | None) -> None:
    if processor is not None:
        processor.terminate()
        processor.wait(timeout=20)


def total(env: Env) -> int:
    return int(env.json("daily", "-z", "UTC")["totals"]["totalTokens"])


def test_tls_hub_verified_against_the_configured_ca(tmp_path: Path, pki: Pki) -> None:
    conf = "\n".join([
        "listen: 127.0.0.1:4222", "jetstream {", '  store_dir: "x"', "}",
        "tls {", f'  cert_file: "{pki.server_cert}"', f'  key_file: "{pki.server_key}"', "}",
    ])  # fmt: skip
    hub = hub_from(conf, tmp_path / "hub", scheme="tls")
    try:  # a hub without users or permissions: nothing to guard
        env = tls_member(tmp_path, "laptop", hub, guarded=False, tls_ca=str(pki.ca))
        truth = generate(env.claude, seed=8, sessions=4, days=2)
        env.run("sync")
        assert total(env) == truth["totals"]["totalTokens"]
        # Trusting another CA, or only the system's, the hub's certificate does not verify.
        for ca in (str(pki.other_ca), None):
            other = tls_member(tmp_path / f"other-{ca is None}", "laptop", hub, guarded=False,
                               tls_ca=ca)  # fmt: skip
            proc = other.run("sync", check=False, timeout=60)
            assert proc.returncode == 1
            assert "TLS certificate did not verify" in one_line(proc.stderr), proc.stderr
        assert hub.log_text().count("TLS handshake error") <= 2 + 2  # once per attempt
    finally:
        hub.kill()


def test_committed_tls_hub_mutual_tls_end_to_end(tmp_path: Path, pki: Pki) -> None:
    conf = (DEPLOY / "hub-tls.conf").read_text()
    for example, real in (("server-cert.pem", pki.server_cert), ("server-key.pem",
                          pki.server_key), ("ca.pem", pki.ca)):  # fmt: skip
        assert f"/etc/usagectl-hub/{example}" in conf
        conf = conf.replace(f"/etc/usagectl-hub/{example}", str(real))
    hub = hub_from(conf, tmp_path / "hub", scheme="tls")
    secrets = [example_password("hub-admin"), example_password("laptop")]
    processor = None
    try:
        client = ClientTls(
            tls_ca=str(pki.ca), tls_cert=str(pki.client_cert), tls_key=str(pki.client_key)
        )
        admin = tls_member(tmp_path, "hub", hub, role="admin", user=ADMIN, password=secrets[0],
                           **client)  # fmt: skip
        admin.run("sync")  # the hub's admin creates the streams
        processor = guard_of(admin, hub)
        laptop = tls_member(tmp_path, "laptop", hub, user="laptop", password=secrets[1],
                            **client)  # fmt: skip
        truth = generate(laptop.claude, seed=9, sessions=4, days=2)
        outputs = [laptop.run("sync").stderr]
        assert total(laptop) == truth["totals"]["totalTokens"]

        # Without a client certificate the hub does not let it in: one line, no retries.
        bare = tls_member(tmp_path / "bare", "laptop", hub, user="laptop",
                          password=secrets[1], tls_ca=str(pki.ca))  # fmt: skip
        proc = bare.run("sync", check=False, timeout=60)
        assert proc.returncode == 1
        line = one_line(proc.stderr)
        assert "client certificate" in line, line
        outputs.append(proc.stderr)
        # A key without its certificate is a configuration error, said plainly.
        broken = tls_member(tmp_path / "broken", "laptop", hub, user="laptop",
                            password=secrets[1], tls_ca=str(pki.ca),
                            tls_key=str(pki.client_key))  # fmt: skip
        proc = broken.run("sync", check=False)
        assert proc.returncode == 1
        assert "hub.tls_key is set without hub.tls_cert" in one_line(proc.stderr)
        assert_no_secret(secrets, *outputs, (laptop.home / "processor.log").read_text())
    finally:
        stop(processor)
        hub.kill()


def test_generated_mutual_tls_hub_end_to_end(tmp_path: Path, pki: Pki) -> None:
    """`deploy hub-config --tls-cert --tls-key --tls-ca --mutual`: the CA is copied beside
    every config, and each machine adds its own client certificate there."""
    import os
    import shutil
    import subprocess

    from conftest import USAGECTL
    from ports import free_port

    port, out = free_port(), tmp_path / "usagectl-hub"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGECTL_")}
    gen = subprocess.run(
        [USAGECTL, "deploy", "hub-config", "--machine", "laptop", "--out", str(out),
         "--listen", f"127.0.0.1:{port}", "--url", f"tls://127.0.0.1:{port}",
         "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
         "--tls-ca", str(pki.ca), "--mutual"],
        capture_output=True, text=True, env=clean,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert "client-cert.pem and client-key.pem" in gen.stdout
    hub = Hub(out / "hub.conf", port, 0, tmp_path / "hub.log", scheme="tls").start()
    processor = None
    try:
        envs = []
        for name, member in (("hub", out / "hub"), ("laptop", out / "machines" / "laptop")):
            env = make_env(tmp_path / name, None)
            env.machine = name
            shutil.copytree(member, env.home)
            shutil.copy(pki.client_cert, env.home / "client-cert.pem")
            shutil.copy(pki.client_key, env.home / "client-key.pem")
            envs.append(env)
        admin, laptop = envs
        assert (laptop.home / "ca.pem").read_bytes() == pki.ca.read_bytes()
        admin.run("sync")
        processor = guard_of(admin, hub)
        truth = generate(laptop.claude, seed=10, sessions=3, days=2)
        laptop.run("sync")
        assert total(laptop) == truth["totals"]["totalTokens"]
    finally:
        stop(processor)
        hub.kill()
