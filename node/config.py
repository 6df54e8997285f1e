"""Node configuration: ``config.toml`` in the data folder, overridable from the environment.

Every setting ``[section] key`` can be overridden by ``MUTUAL_SECTION_KEY`` (upper case),
so containers and tests configure a node without editing files. Lists are given as
comma-separated values, booleans as true/false/1/0.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Config", "ConfigError", "default_retry_schedule", "load_config", "write_config"]

CONFIG_FILE = "config.toml"


class ConfigError(Exception):
    reason = "config"


def default_retry_schedule() -> list[float]:
    """Seconds between delivery attempts: 1 min growing to a day, ~6 days in total.

    Mastodon retries for about a week with exponential backoff; a peer that is down for
    a weekend still gets everything.
    """
    minutes = [1, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 1440, 1440, 1440, 1440, 1440]
    return [m * 60.0 for m in minutes]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    data_dir: Path
    # [server]
    url: str = "http://127.0.0.1:8080"
    listen: str = "127.0.0.1:8080"
    database: str = ""
    name: str = "Mutual"
    description: str = "A community node"
    open_registrations: bool = False
    contact_email: str = ""
    # The node's rules, one per line, for /api/v1/instance/rules (a governing group's
    # rules text, when there is one, takes their place).
    rules: str = ""
    # A bearer token that lets a scraper read /metrics from anywhere; without it only a
    # direct request from loopback or a trusted proxy's address may (routes/health.py)
    metrics_token: str = ""
    # [federation]
    allow_private_addresses: bool = False
    fetch_timeout: float = 10.0
    max_fetch_bytes: int = 2_000_000
    max_redirects: int = 3
    # reads of actors, objects and collections need a signed GET (secure mode)
    authorized_fetch: bool = False
    # [inbox]
    max_body_bytes: int = 1_000_000
    key_cache_size: int = 10_000
    # [delivery]
    retry_schedule: list[float] = field(default_factory=default_retry_schedule)
    concurrency: int = 32
    per_host_concurrency: int = 4
    delivery_timeout: float = 15.0
    pause_after_failures: int = 5
    pause_seconds: float = 900.0
    worker_poll_seconds: float = 1.0
    # how long a claimed job stays claimed without a renewal: the most a crashed
    # worker's jobs wait before another worker (or the restarted one) takes them over
    lease_seconds: float = 30.0
    # [oauth] seconds an access token lives; 0: until revoked, as on Mastodon
    token_lifetime: float = 0.0
    # [governance] seconds between live-count updates of an open proposal; Mastodon
    # waits 3 minutes after a vote before it sends a poll's new counts
    counts_interval: float = 180.0
    # [streaming] events a connection may have waiting before it is dropped as too
    # slow, and seconds between heartbeats (and token checks) of an idle stream
    queue_size: int = 256
    heartbeat_seconds: float = 15.0
    # [limits] token buckets per client address (the one a trusted proxy reports; a
    # direct loopback request is never limited), per remote host/actor and per token;
    # defaults are Mastodon's (300 API calls per 5 minutes per address, 1500 per token)
    rate_limits: bool = True
    trusted_proxies: str = "127.0.0.0/8,::1"
    inbox_per_minute: int = 300
    inbox_host_per_minute: int = 3000
    inbox_actor_per_minute: int = 600
    api_per_5min: int = 300
    api_token_per_5min: int = 1500
    login_address_failures: int = 25
    login_user_failures: int = 10
    login_window: float = 300.0
    max_tracked: int = 100_000

    @property
    def host(self) -> str:
        parts = urlsplit(self.url)
        host = (parts.hostname or "").lower()
        return f"{host}:{parts.port}" if parts.port else host

    @property
    def database_path(self) -> Path:
        if self.database.startswith("sqlite:"):
            return Path(self.database.removeprefix("sqlite:").removeprefix("//"))
        return self.data_dir / "mutual.db"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


_SECTIONS: dict[str, tuple[str, ...]] = {
    "server": ("url", "listen", "database", "name", "description", "open_registrations",
               "contact_email", "rules", "metrics_token"),
    "federation": ("allow_private_addresses", "fetch_timeout", "max_fetch_bytes",
                   "max_redirects", "authorized_fetch"),
    "inbox": ("max_body_bytes", "key_cache_size"),
    "delivery": ("retry_schedule", "concurrency", "per_host_concurrency", "delivery_timeout",
                 "pause_after_failures", "pause_seconds", "worker_poll_seconds",
                 "lease_seconds"),
    "oauth": ("token_lifetime",),
    "streaming": ("queue_size", "heartbeat_seconds"),
    "governance": ("counts_interval",),
    "limits": ("rate_limits", "trusted_proxies", "inbox_per_minute", "inbox_host_per_minute",
               "inbox_actor_per_minute", "api_per_5min", "api_token_per_5min",
               "login_address_failures", "login_user_failures", "login_window",
               "max_tracked"),
}


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Turn a TOML or environment value into the type of the field's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, list):
            items = value.split(",") if isinstance(value, str) else value
            return [float(v) for v in items if str(v).strip()]
        if isinstance(value, list):  # a TOML list for a comma-separated setting
            return ",".join(str(v) for v in value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} has an invalid value {value!r}") from exc


def load_config(data_dir: Path, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = data_dir / CONFIG_FILE
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    defaults = Config(data_dir=data_dir)
    values: dict[str, Any] = {}
    for section, keys in _SECTIONS.items():
        table = raw.get(section, {})
        for key in keys:
            default = getattr(defaults, key)
            env_name = f"MUTUAL_{section}_{key}".upper()
            if env_name in env:
                values[key] = _coerce(key, env[env_name], default)
            elif key in table:
                values[key] = _coerce(key, table[key], default)
    config = dataclasses.replace(defaults, **values)
    parts = urlsplit(config.url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"server url must be like https://example.org, not {config.url!r}")
    return dataclasses.replace(config, url=config.url.rstrip("/"))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_config(config: Config) -> Path:
    """Write every setting out, so an admin sees what can be changed."""
    lines = ["# Mutual node settings. MUTUAL_<SECTION>_<KEY> in the environment overrides."]
    for section, keys in _SECTIONS.items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{key} = {_toml_value(getattr(config, key))}" for key in keys)
    path = config.data_dir / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n")
    return path
