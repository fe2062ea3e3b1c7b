"""The config file: typed, overridable by env, secrets masked, bad files one clear line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import USAGECTL, make_env
from usagectl.processors.app.config import ConfigError
from usagectl.processors.app.settings import load_settings

CONFIG = """
machine = "laptop"
account = "work"
plans = ["~/code/app"]

[hub]
url = ["nats://m1:s3cret-in-url@hub-a:4222", "nats://hub-b:4222"]
user = "m1"
password = "hunter2-password"
creds = "keys/m1.creds"
tls_ca = "/etc/ca.pem"
retention_days = 400

[consumers]
enabled = ["alerts", "mine"]

[alerts]
rules = []
"""


def write(tmp_path: Path, text: str) -> dict[str, str]:
    home = tmp_path / "data"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text)
    return {"HOME": str(tmp_path), "USAGECTL_HOME": str(home)}


def test_file_values_reach_settings(tmp_path: Path) -> None:
    env = write(tmp_path, CONFIG)
    settings = load_settings(env)
    assert settings.machine == "laptop"
    assert settings.account == "work"
    assert settings.nats_url == "nats://m1:s3cret-in-url@hub-a:4222,nats://hub-b:4222"
    assert settings.bus_password == "hunter2-password"
    assert settings.bus_creds == str(tmp_path / "data" / "keys" / "m1.creds")  # file-relative
    assert settings.tls_ca == "/etc/ca.pem"
    assert settings.retention_days == 400
    assert settings.consumers == ("alerts", "mine")
    assert settings.plans == ("~/code/app",)
    assert settings.sections["alerts"] == {"rules": []}
    bus = settings.bus(settings.nats_url or "")
    assert (bus.password, bus.tls_ca, bus.retention_days) == (
        "hunter2-password",
        "/etc/ca.pem",
        400,
    )


def test_env_overrides_file(tmp_path: Path) -> None:
    env = write(tmp_path, CONFIG) | {
        "USAGECTL_MACHINE": "ci-box",
        "USAGECTL_NATS_URL": "nats://127.0.0.1:4999",
        "USAGECTL_RETENTION_DAYS": "0",
        "USAGECTL_CONSUMERS": "alerts",
    }
    settings = load_settings(env)
    assert settings.machine == "ci-box"
    assert settings.nats_url == "nats://127.0.0.1:4999"
    assert settings.retention_days is None  # 0 = keep forever
    assert settings.consumers == ("alerts",)
    assert settings.account == "work"  # untouched keys still come from the file


def test_no_file_means_defaults(tmp_path: Path) -> None:
    settings = load_settings({"HOME": str(tmp_path), "USAGECTL_HOME": str(tmp_path / "d")})
    assert settings.nats_url is None
    assert settings.account == "default"
    assert settings.consumers == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hub\n", "not valid TOML"),
        ("[hub]\nur = 'x'\n", "unknown field `ur` (in hub)"),
        ("colour = 1\n", "unknown field `colour`"),
        ("[hub]\nretention_days = 'forever'\n", "Expected `float | null`"),
        ("[hub]\nretention_days = -3\n", "must be 0 (keep) or more"),
    ],
)
def test_bad_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    env = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_named_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"HOME": str(tmp_path), "USAGECTL_CONFIG": str(tmp_path / "nope.toml")})


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    env.home.mkdir()
    (env.home / "config.toml").write_text(CONFIG)
    env.extra["USAGECTL_NATS_TOKEN"] = "tok-from-env-123"
    text = env.run("config", "show").stdout
    shown = json.loads(env.run("config", "show", "--json").stdout)
    for secret in ("hunter2-password", "s3cret-in-url", "tok-from-env-123"):
        assert secret not in text
        assert secret not in json.dumps(shown)
    rows = shown["settings"]
    assert rows["hub.token"] == {"value": "********", "source": "env USAGECTL_NATS_TOKEN"}
    assert rows["hub.user"] == {"value": "m1", "source": "file"}
    assert rows["machine"]["source"] == "env USAGECTL_MACHINE"  # the test env sets it
    assert rows["hub.url"]["value"].startswith("nats://m1:********@hub-a:4222")
    assert "# env USAGECTL_NATS_TOKEN" in text


def test_bad_config_fails_commands_with_one_line(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    env.home.mkdir()
    (env.home / "config.toml").write_text("[hub]\nurl = 5\n")
    proc = subprocess.run(
        [USAGECTL, "daily"], env=env.vars(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "config.toml" in proc.stderr and "Traceback" not in proc.stderr
