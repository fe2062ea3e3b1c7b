"""Real nats-servers configured as a deployment would be: from a config file (the committed
ones in deploy/ or generated ones), with auth, TLS or as a cluster; their logs kept to count
what the server saw."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usagectl.processors.embedded import start_server

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@dataclass
class Hub:
    """One nats-server from a config file on loopback; a port of 0 lets the server pick one
    (read back after it starts, and kept for a restart)."""

    conf: Path
    port: int
    monitor: int
    log: Path
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    scheme: str = "nats"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> Hub:
        args = ["-c", str(self.conf), "-a", "127.0.0.1", "-p", str(self.port or -1),
                "-m", str(self.monitor or -1), *self.args]  # fmt: skip
        ports = self.log.with_name(f"{self.log.stem}-ports")
        self.process, self.port, monitor = start_server(args, ports, self.log)
        self.monitor = monitor or self.monitor
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def monitoring(self, endpoint: str) -> Any:
        url = f"http://127.0.0.1:{self.monitor}/{endpoint}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def hub_from(
    conf_text: str, where: Path, name: str = "hub", scheme: str = "nats", port: int | None = None
) -> Hub:
    """A server from config text whose ``store_dir`` line is pointed into ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    lines = conf_text.splitlines()
    stores = [i for i, line in enumerate(lines) if line.strip().startswith("store_dir:")]
    assert len(stores) == 1, "a hub config has exactly one store_dir"
    lines[stores[0]] = f'  store_dir: "{where / (name + "-store")}"'
    conf = where / f"{name}.conf"
    conf.write_text("\n".join(lines) + "\n")
    hub = Hub(conf, port or 0, 0, where / f"{name}.log", scheme=scheme)
    return hub.start()


def write_toml(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def assert_no_secret(secrets: list[str], *texts: str) -> None:
    """Secrets are never printed or logged: not in any output or log given."""
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"a secret leaked: ...{text[-300:]}"


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- certificates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting it must fail


def make_pki(where: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    where.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def save_key(k: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))  # fmt: skip
        path.chmod(0o600)
        return path

    def save_cert(c: x509.Certificate, path: Path) -> Path:
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return path

    def ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        k = key()
        cert = (
            x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(k, hashes.SHA256())
        )  # fmt: skip
        return k, cert

    def leaf(cn: str, issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], server: bool
             ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:  # fmt: skip
        k = key()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer[1].subject)
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )  # fmt: skip
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
            ]), critical=False)  # fmt: skip
        return k, builder.sign(issuer[0], hashes.SHA256())

    root = ca("usagectl test CA")
    server = leaf("usagectl hub", root, server=True)
    client = leaf("laptop", root, server=False)
    other = ca("some other CA")
    return Pki(
        ca=save_cert(root[1], where / "ca.pem"),
        server_cert=save_cert(server[1], where / "server-cert.pem"),
        server_key=save_key(server[0], where / "server-key.pem"),
        client_cert=save_cert(client[1], where / "client-cert.pem"),
        client_key=save_key(client[0], where / "client-key.pem"),
        other_ca=save_cert(other[1], where / "other-ca.pem"),
    )


# --- live readers -------------------------------------------------------------------------


class Watch:
    """`usagectl watch --json` in the background; every JSON line kept with its arrival time."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        import threading

        self.lines: list[tuple[float, dict[str, Any]]] = []
        with log.open("ab") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.lines.append((time.monotonic(), json.loads(raw)))
            except ValueError:
                continue

    def wait_for(self, predicate: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for _, line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.proc.poll() is not None:
                raise AssertionError(f"watch exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise AssertionError(f"watch never showed it; last: {self.lines[-1:]}")

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._thread.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def jetstream_streams(hub: Hub) -> list[str]:
    data = hub.monitoring("jsz?accounts=true&streams=true")
    return [s["name"] for a in data.get("account_details", []) for s in a.get("stream_detail", [])]


def wait_until(predicate: Any, timeout: float, what: str = "condition") -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


ASSISTANT = (
    '{{"type":"assistant","timestamp":"{ts}","sessionId":"live-{n}","cwd":"/work/live",'
    '"message":{{"id":"msg_live_{n}","model":"claude-sonnet-4-5-20250929","usage":'
    '{{"input_tokens":3,"output_tokens":{out},"cache_read_input_tokens":10}}}},'
    '"requestId":"req_live_{n}"}}\n'
)


def append_live(claude: Path, n: int, out: int, session: str = "live") -> None:
    """One assistant line stamped now, appended to a live transcript (as Claude Code does)."""
    path = claude / "projects" / "-work-live" / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    with path.open("a") as f:
        f.write(ASSISTANT.format(ts=ts, n=n, out=out))


def guard_serves(hub: Hub, prefix: str = "usagectl") -> bool:
    """Whether a processor with ``hub.serve_guard`` listens for the members' JetStream
    requests (`processors.hubguard`)."""
    try:
        data = hub.monitoring(f"subsz?subs=1&test={prefix}.api.someone.STREAM.INFO.X")
    except OSError:
        return False
    return bool(data.get("subscriptions_list"))


def wait_for_guard(hub: Hub, timeout: float = 60) -> None:
    wait_until(lambda: guard_serves(hub), timeout, "the hub's processor to serve as its guard")
