"""The deploy recipes agree with the code (deploy/, docs/deploy.md).

Neither Docker nor nginx runs in these tests, so what can drift is checked here: every
``mutual`` command line the recipes and the guide give is parsed by the real command
line parser, every ``MUTUAL_*`` variable they set is a real setting, the proxy keeps
the headers that signatures and rate limits depend on and the node's body limit, and
the ports, roles and paths line up between the compose file, nginx and systemd.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import _parser
from node.config import _SECTIONS, Config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Without its comments: a commented-out directive must not count.
NGINX = "\n".join(line for line in (DEPLOY / "nginx" / "mutual.conf").read_text().splitlines()
                  if not line.lstrip().startswith("#"))
COMPOSE = (DEPLOY / "compose.yaml").read_text()
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
GUIDE = (ROOT / "docs" / "deploy.md").read_text()
UNITS = {path.name: path.read_text() for path in (DEPLOY / "systemd").glob("*.service")}
# Variables the recipes may set that are not settings: the data folder and the log
# level (node/cli.py).
NOT_SETTINGS = {"MUTUAL_DATA", "MUTUAL_LOG_LEVEL"}


def parses(args: list[str]) -> None:
    """Parse as ``mutual`` would (argparse exits 2 on an unknown command or flag)."""
    try:
        _parser().parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"`mutual {shlex.join(args)}` is not a valid command") from exc


def known(args: list[str]) -> bool:
    """False for a command that is being built elsewhere and not in this tree yet."""
    return "migrate-to" not in args or "migrate-to" in _parser().format_help()


def test_serve_help_lists_the_role_and_listen_flags() -> None:
    result = subprocess.run([sys.executable, "-m", "node.cli", "serve", "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert "--role {all,web,worker}" in result.stdout
    assert "--listen" in result.stdout


def test_systemd_units_run_real_commands_and_are_hardened() -> None:
    assert set(UNITS) == {"mutual-web@.service", "mutual-worker@.service"}
    for name, unit in UNITS.items():
        (exec_start,) = re.findall(r"^ExecStart=(.+)$", unit, re.MULTILINE)
        words = shlex.split(exec_start.replace("%i", "8081"))
        assert words[0].endswith("/mutual"), exec_start
        parses(words[1:])
        role = name.removeprefix("mutual-").split("@")[0]
        assert words[words.index("--role") + 1] == role
        data = words[words.index("--data") + 1]
        assert f"ReadWritePaths={data}\n" in unit
        for line in ("ProtectSystem=strict", "Restart=on-failure", "NoNewPrivileges=yes"):
            assert f"{line}\n" in unit, (name, line)
        assert "User=mutual" in unit or "DynamicUser=yes" in unit


def test_compose_runs_postgres_two_web_processes_a_worker_and_nginx() -> None:
    commands = [json.loads(c) for c in re.findall(r"^\s+command: (\[.*\])$", COMPOSE,
                                                   re.MULTILINE)]
    for command in commands:
        parses(command)  # the image's entrypoint is `mutual`, --data from $MUTUAL_DATA
    roles = [c[c.index("--role") + 1] for c in commands]
    assert sorted(roles) == ["web", "web", "worker"]
    assert "image: postgres:15" in COMPOSE
    assert "./nginx/mutual.conf:/etc/nginx/conf.d/default.conf:ro" in COMPOSE
    assert "dockerfile: deploy/Dockerfile" in COMPOSE
    for line in re.findall(r"docker compose run --rm worker ([^\n\\]+)", COMPOSE):
        parses(shlex.split(line))
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # not a dependency: the text checks above stand alone
        return
    services = yaml.safe_load(COMPOSE)["services"]
    assert {"postgres", "nginx", "web1", "web2", "worker"} <= set(services)


def test_nginx_sends_to_the_web_ports_the_recipes_listen_on() -> None:
    upstream = re.search(r"upstream mutual_web \{(.*?)\}", NGINX, re.DOTALL)
    assert upstream is not None
    ports = re.findall(r"server 127\.0\.0\.1:(\d+)", upstream.group(1))
    assert len(ports) >= 2, "several web processes"
    compose_ports = re.findall(r"MUTUAL_SERVER_LISTEN: 127\.0\.0\.1:(\d+)", COMPOSE)
    assert sorted(compose_ports) == sorted(ports)
    assert f"mutual-web@{ports[0]} mutual-web@{ports[1]}" in UNITS["mutual-web@.service"]


def test_nginx_keeps_host_forwarded_headers_streaming_and_the_body_limit() -> None:
    locations = re.findall(r"location ([^{]+)\{(.*?)\n    \}", NGINX, re.DOTALL)
    proxied = {path.strip(): body for path, body in locations if "proxy_pass" in body}
    assert set(proxied) == {"/", "/api/v1/streaming"}
    for path, body in proxied.items():
        # HTTP signatures sign Host; nginx drops outer proxy_set_header in a location
        # that sets its own, so each proxied location must set all of them.
        assert "proxy_set_header Host $host;" in body, path
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body, path
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in body, path
    streaming = proxied["/api/v1/streaming"]
    for line in ("proxy_buffering off;", "proxy_set_header Upgrade $http_upgrade;",
                 "proxy_set_header Connection $connection_upgrade;"):
        assert line in streaming
    limit = re.search(r"client_max_body_size (\d+);", NGINX)
    assert limit is not None
    assert int(limit.group(1)) == Config(data_dir=Path()).max_body_bytes


def test_dockerfile_builds_a_non_root_image_with_a_health_check() -> None:
    assert "\nFROM python:3.11-slim\n" in DOCKERFILE
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users, "a USER line"
    assert users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["mutual"]' in DOCKERFILE
    (cmd,) = re.findall(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    parses(json.loads(cmd))
    assert re.search(r"^VOLUME \[\"/data\"\]$", DOCKERFILE, re.MULTILINE)
    (healthcheck,) = re.findall(r"^HEALTHCHECK .*?\]$", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert "/healthz" in healthcheck
    copied = set(re.findall(r"^COPY (\S+) ", DOCKERFILE, re.MULTILINE))
    assert {"protocol", "storage", "node"} <= copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for folder in ("protocol", "storage", "node"):
        assert f"!{folder}/**" in ignore


def test_every_variable_the_recipes_set_is_a_setting() -> None:
    settings = {f"MUTUAL_{section}_{key}".upper()
                for section, keys in _SECTIONS.items() for key in keys}
    texts = [NGINX, COMPOSE, DOCKERFILE, GUIDE, *UNITS.values()]
    used = {name for text in texts for name in re.findall(r"MUTUAL_[A-Z][A-Z_]*", text)}
    assert used, "the recipes configure the node through the environment"
    assert used - settings - NOT_SETTINGS == set()


@pytest.mark.parametrize("pattern", [
    r"/bin/mutual ([^`&|;\n]+)",       # shell blocks
    r"`mutual ([^`]+)`",               # inline commands
    r"docker compose run --rm worker ([^`&\n]+)",
])
def test_commands_in_the_guide_exist(pattern: str) -> None:
    found = re.findall(pattern, GUIDE)
    assert found, pattern
    for line in found:
        args = shlex.split(line)
        if known(args):
            parses(args)
