"""The files in deploy/ are what the code writes (regenerate with tests/deploy_examples.py),
nats-server accepts them, the compose file parses and names only real settings, and the
README there mentions every file. Real servers start from them in test_auth, test_tls and
test_cluster."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_examples import render_all
from hubs import DEPLOY
from usagectl.processors.app.config import KEYS
from usagectl.processors.embedded import server_binary

ROOT = DEPLOY.parent


@pytest.mark.parametrize("name", sorted(render_all()))
def test_committed_example_is_what_the_code_writes(name: str) -> None:
    content = render_all()[name]
    committed = (DEPLOY / name).read_bytes()
    expected = content if isinstance(content, bytes) else content.encode()
    assert committed == expected, f"deploy/{name} is stale: run python tests/deploy_examples.py"


@pytest.mark.parametrize("name", ["nats-server.conf", "hub.conf", "cluster/n1.conf",
                                  "cluster/n2.conf", "cluster/n3.conf"])  # fmt: skip
def test_nats_server_accepts_config(name: str) -> None:
    check = subprocess.run([server_binary(), "-t", "-c", str(DEPLOY / name)],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_cluster_nodes_agree() -> None:
    confs = [(DEPLOY / "cluster" / f"n{i}.conf").read_text() for i in (1, 2, 3)]

    def value(conf: str, key: str) -> str:
        found = re.search(rf"^\s*{key}: (.+)$", conf, re.M)
        assert found is not None, key
        return found.group(1)

    def values(key: str) -> list[str]:
        return [value(c, key) for c in confs]

    assert len(set(values("server_name"))) == 3
    assert len(set(values("listen"))) == 6 // 2  # clients: one port per node
    routes = [re.findall(r"nats-route://\S+", c) for c in confs]
    assert routes[0] == routes[1] == routes[2] and len(routes[0]) == 3
    assert all("name: usagectl" in c for c in confs)


def test_compose_file_parses_and_names_real_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"nats", "processor", "serve", "prometheus", "grafana"}
    # Without a profile only the hub starts; the observability stack is asked for by name.
    assert {n for n, s in services.items() if "profiles" not in s} == {"nats", "processor"}
    assert {n for n, s in services.items() if s.get("profiles") == ["observability"]} == {
        "serve", "prometheus", "grafana"}  # fmt: skip
    assert services["nats"]["command"] == ["-c", "/etc/nats/hub.conf"]
    assert "4222:4222" in services["nats"]["ports"]
    build = services["processor"]["build"]
    dockerfile = (DEPLOY / build["context"]).resolve() / build["dockerfile"]
    assert dockerfile.exists()
    for line in dockerfile.read_text().splitlines():  # what it copies exists
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
    known = {var for _, var in KEYS.values()} | {"USAGECTL_HOME", "USAGECTL_CONFIG"}
    assert set(services["processor"]["environment"]) <= known
    assert set(services["serve"]["environment"]) <= known
    assert services["processor"]["command"] == ["processor"]
    assert services["serve"]["command"][0] == "serve"
    assert services["serve"]["build"] == build
    assert set(compose["volumes"]) == {"nats-data", "processor-data", "prometheus-data",
                                       "grafana-data"}  # fmt: skip
    for name in ("prometheus", "grafana"):  # every file mounted from deploy/ exists
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), (name, source)


def test_prometheus_files_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Debian's prometheus (promtool; .ci/run installs it)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    rules = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert rules.returncode == 0 and "4 rules found" in rules.stdout, rules.stdout + rules.stderr
    # The config names paths inside the container: point them at real files to check it.
    (tmp_path / "token").write_text("t\n")
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    config = config.replace("/etc/prometheus/usagectl-alerts.yml",
                            str(DEPLOY / "prometheus" / "alerts.yml"))  # fmt: skip
    config = config.replace("/usagectl/serve-token", str(tmp_path / "token"))
    (tmp_path / "prometheus.yml").write_text(config)
    check = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_deploy_readme_mentions_every_file() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md":
            assert str(path.relative_to(DEPLOY)) in readme, path
