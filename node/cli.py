"""``mutual``: the admin's command line (DESIGN §6).

Commands print what a script needs on stdout (a token, a password) and everything
meant for people on stderr, and exit non-zero with a one-line reason on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from node.accounts import AccountError, create_account, create_token
from node.config import Config, ConfigError, load_config, write_config
from node.urls import INSTANCE_ACTOR, Urls
from storage.records import SetDomainBlock
from storage.sqlite import SqliteStore, open_sqlite

__all__ = ["main"]

DEFAULT_URL = "http://127.0.0.1:8080"


class CliError(Exception):
    pass


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _with_store(config: Config, fn: Callable[[SqliteStore], Awaitable[int]]) -> int:
    if not (config.data_dir / "config.toml").exists():
        raise CliError(f"{config.data_dir} is not initialised: run `mutual init` first")
    store = await open_sqlite(config.database_path)
    try:
        return await fn(store)
    finally:
        await store.close()


def _write_initial_config(data_dir: Path, url: str, database: str) -> Config:
    if (data_dir / "config.toml").exists():
        raise CliError(f"{data_dir} is already initialised")
    data_dir.mkdir(parents=True, exist_ok=True)
    # A node on loopback is a development or test node: its peers are on loopback too.
    config = Config(data_dir=data_dir, url=url.rstrip("/"), database=database,
                    allow_private_addresses=_is_loopback(url),
                    listen=f"127.0.0.1:{urlsplit(url).port or 8080}")
    write_config(config)
    return load_config(data_dir)


async def initialise(data_dir: Path, url: str, database: str = "") -> Config:
    """Create the data folder, its config, schema and the instance actor."""
    config = _write_initial_config(data_dir, url, database)
    store = await open_sqlite(config.database_path)
    try:
        await create_account(store, Urls(config.url), INSTANCE_ACTOR, kind="application",
                             display_name=config.name)
    finally:
        await store.close()
    return config


async def _cmd_init(args: argparse.Namespace) -> int:
    config = await initialise(args.data, args.url, args.database or "")
    print(f"initialised {config.data_dir} for {config.url}", file=sys.stderr)
    return 0


async def _cmd_account(args: argparse.Namespace) -> int:
    config = load_config(args.data)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None

    async def run(store: SqliteStore) -> int:
        account = await create_account(store, Urls(config.url), args.name, admin=args.admin,
                                       email=args.email, password=password)
        print(account.actor_id)
        return 0

    return await _with_store(config, run)


async def _cmd_token(args: argparse.Namespace) -> int:
    config = load_config(args.data)

    async def run(store: SqliteStore) -> int:
        print(await create_token(store, args.name.lower()))
        return 0

    return await _with_store(config, run)


async def _cmd_domain(args: argparse.Namespace) -> int:
    import time

    config = load_config(args.data)

    async def run(store: SqliteStore) -> int:
        if args.action == "list":
            for domain in await store.blocked_domains():
                print(domain)
            return 0
        if not args.domain:
            raise CliError("a domain is required")
        await store.apply([SetDomainBlock(domain=args.domain.lower(),
                                          blocked=args.action == "block",
                                          created_at=time.time())])
        return 0

    return await _with_store(config, run)


async def _cmd_group(args: argparse.Namespace) -> int:
    from node.groups import create_group

    config = load_config(args.data)

    async def run(store: SqliteStore) -> int:
        try:
            group = await create_group(store, Urls(config.url), args.name,
                                       owner=args.owner.lower(), closed=args.closed)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        print(group.actor_id)
        return 0

    return await _with_store(config, run)


async def _cmd_governance(args: argparse.Namespace) -> int:
    from node.governance.common import GOVERNING_GROUP
    from storage.governance import SetMeta

    config = load_config(args.data)

    async def run(store: SqliteStore) -> int:
        group = await store.get_account(args.group)
        if group is None or group.kind != "group":
            raise CliError(f"no group named {args.group!r} on this node")
        await store.apply([SetMeta(key=GOVERNING_GROUP, value=group.actor_id)])
        print(f"{group.actor_id} now governs this node", file=sys.stderr)
        return 0

    return await _with_store(config, run)


async def _cmd_audit(args: argparse.Namespace) -> int:
    from node.audit import run_audit

    return await run_audit(args.url)


async def _cmd_migrate(args: argparse.Namespace) -> int:
    config = load_config(args.data)
    store = await open_sqlite(config.database_path)
    await store.close()
    print("schema is up to date", file=sys.stderr)
    return 0


async def _first_run(data_dir: Path) -> None:
    """`serve` on an empty folder gives a working node and a one-time admin password."""
    await initialise(data_dir, DEFAULT_URL)
    config = load_config(data_dir)
    password = secrets.token_urlsafe(12)
    store = await open_sqlite(config.database_path)
    try:
        await create_account(store, Urls(config.url), "admin", admin=True, password=password)
    finally:
        await store.close()
    print(f"New node at {config.url}. Admin account: admin, password: {password}\n"
          "This password is shown only once.", flush=True)


def _cmd_serve(args: argparse.Namespace) -> int:
    from node.app import create_app

    if not (args.data / "config.toml").exists():
        asyncio.run(_first_run(args.data))
    config = load_config(args.data)
    if args.listen:
        config = dataclasses.replace(config, listen=args.listen)
    host, port = config.listen_host_port
    app = create_app(config, run_workers=args.role in ("all", "worker"))
    print(f"Mutual serving {config.url} on {host}:{port}", file=sys.stderr, flush=True)
    web.run_app(app, host=host, port=port, print=None, access_log=None,
                handle_signals=True, shutdown_timeout=5)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mutual", description="A Mutual community node")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("MUTUAL_DATA", "./mutual-data")),
                        help="data folder (default $MUTUAL_DATA or ./mutual-data)")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create a data folder, config and instance keys")
    init.add_argument("--url", required=True, help="public URL, e.g. https://coop.example")
    init.add_argument("--database", help="database DSN (default: sqlite in the data folder)")

    account = sub.add_parser("account", help="manage local accounts")
    account_sub = account.add_subparsers(dest="action", required=True)
    create = account_sub.add_parser("create", help="create a member account")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--email")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin")

    token = sub.add_parser("token", help="manage bearer tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    token_create = token_sub.add_parser("create", help="print a new bearer token for NAME")
    token_create.add_argument("name")

    serve = sub.add_parser("serve", help="run the node")
    serve.add_argument("--listen", help="HOST:PORT (default from config)")
    serve.add_argument("--role", choices=("all", "web", "worker"), default="all")

    domain = sub.add_parser("domain", help="block or unblock a remote domain")
    domain.add_argument("action", choices=("block", "unblock", "list"))
    domain.add_argument("domain", nargs="?")

    sub.add_parser("migrate", help="apply pending schema migrations")

    group = sub.add_parser("group", help="manage groups")
    group_sub = group.add_subparsers(dest="action", required=True)
    group_create = group_sub.add_parser("create", help="create a group")
    group_create.add_argument("name")
    group_create.add_argument("--owner", required=True, help="the member who moderates it")
    group_create.add_argument("--closed", action="store_true",
                              help="joining needs a moderator's or the group's approval")

    governance = sub.add_parser("governance", help="let a group govern this node")
    governance_sub = governance.add_subparsers(dest="action", required=True)
    governance_set = governance_sub.add_parser("set", help="this group's decisions govern")
    governance_set.add_argument("group")

    audit = sub.add_parser("audit", help="verify a decision from its public URL")
    audit.add_argument("url", help="the proposal's URL")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("MUTUAL_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    commands: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "init": _cmd_init, "account": _cmd_account, "token": _cmd_token,
        "domain": _cmd_domain, "migrate": _cmd_migrate, "group": _cmd_group,
        "governance": _cmd_governance, "audit": _cmd_audit,
    }
    try:
        if args.command == "serve":
            return _cmd_serve(args)
        return asyncio.run(commands[args.command](args))
    except (CliError, ConfigError, AccountError) as exc:
        print(f"mutual: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
