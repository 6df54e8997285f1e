"""The admin's command line and configuration (DESIGN §6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from node.config import ConfigError, load_config
from tests.support.nodes import free_port


def run(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", "--data", str(data), *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


def test_init_then_accounts_tokens_and_domain_blocks(tmp_path: Path) -> None:
    data = tmp_path / "node"
    assert run(data, "init", "--url", "https://coop.example").returncode == 0
    again = run(data, "init", "--url", "https://coop.example")
    assert again.returncode == 2
    assert "already initialised" in again.stderr
    created = run(data, "account", "create", "ana", "--email", "ana@coop.example",
                  "--password-stdin", stdin="correct horse\n")
    assert created.stdout.strip() == "https://coop.example/users/ana"
    assert run(data, "account", "create", "ana").returncode == 2  # exists already
    bad = run(data, "account", "create", "Not A Name!")
    assert bad.returncode == 2
    assert "invalid name" in bad.stderr
    token = run(data, "token", "create", "ana").stdout.strip()
    assert len(token) >= 40
    assert run(data, "token", "create", "nobody").returncode == 2
    assert run(data, "domain", "block", "Spam.Example").returncode == 0
    assert run(data, "domain", "list").stdout.split() == ["spam.example"]
    assert run(data, "domain", "unblock", "spam.example").returncode == 0
    assert run(data, "domain", "list").stdout.strip() == ""
    config = load_config(data, env={})
    assert config.url == "https://coop.example"
    assert config.allow_private_addresses is False  # a public URL guards private ranges


def test_commands_on_a_folder_that_was_never_initialised_say_so(tmp_path: Path) -> None:
    result = run(tmp_path / "missing", "account", "create", "ana")
    assert result.returncode == 2
    assert "not initialised" in result.stderr


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    data = tmp_path / "node"
    assert run(data, "init", "--url", "http://127.0.0.1:9999").returncode == 0
    config = load_config(data, env={"MUTUAL_SERVER_LISTEN": "0.0.0.0:7000",
                                    "MUTUAL_DELIVERY_RETRY_SCHEDULE": "1,2,3",
                                    "MUTUAL_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "false"})
    assert config.listen_host_port == ("0.0.0.0", 7000)
    assert config.retry_schedule == [1.0, 2.0, 3.0]
    assert config.allow_private_addresses is False
    with pytest.raises(ConfigError, match="delivery_timeout"):
        load_config(data, env={"MUTUAL_DELIVERY_DELIVERY_TIMEOUT": "soon"})


def test_a_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir()
    (data / "config.toml").write_text("[server\nurl = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(data, env={})
    (data / "config.toml").write_text('[server]\nurl = "ftp://nope"\n')
    with pytest.raises(ConfigError, match="server url"):
        load_config(data, env={})


def test_serve_on_an_empty_folder_starts_a_node_and_prints_a_password(tmp_path: Path) -> None:
    """What `make run` does on a fresh machine: one command gives a working node."""
    data = tmp_path / "mutual-data"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "--data", str(data), "serve",
             "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT,
            env=os.environ.copy())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/.well-known/webfinger"
                        "?resource=acct:admin@127.0.0.1:8080", timeout=2) as response:
                    jrd = json.load(response)
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the node did not come up: {log.read_text()}")
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert jrd["subject"] == "acct:admin@127.0.0.1:8080"
    printed = log.read_text()
    assert "Admin account: admin, password: " in printed
    assert (data / "config.toml").exists()
    assert (data / "mutual.db").exists()
