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

from node.accounts import AccountError, create_account, create_token
from node.config import Config, ConfigError, load_config, write_config
from node.urls import INSTANCE_ACTOR, Urls
from storage.factory import is_postgres_dsn, migrate_database, open_store
from storage.records import SetDomainBlock
from storage.store import StorageError, Store

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


async def _with_store(config: Config, fn: Callable[[Store], Awaitable[int]]) -> int:
    if not (config.data_dir / "config.toml").exists():
        raise CliError(f"{config.data_dir} is not initialised: run `mutual init` first")
    store = await open_store(config.database, config.database_path)
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
    store = await open_store(config.database, config.database_path)
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

    async def run(store: Store) -> int:
        account = await create_account(store, Urls(config.url), args.name, admin=args.admin,
                                       email=args.email, password=password)
        print(account.actor_id)
        return 0

    return await _with_store(config, run)


async def _cmd_token(args: argparse.Namespace) -> int:
    config = load_config(args.data)

    async def run(store: Store) -> int:
        print(await create_token(store, args.name.lower()))
        return 0

    return await _with_store(config, run)


async def _cmd_domain(args: argparse.Namespace) -> int:
    import time

    config = load_config(args.data)

    async def run(store: Store) -> int:
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

    async def run(store: Store) -> int:
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

    async def run(store: Store) -> int:
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
    """Apply pending migrations to the configured engine; prints the schema version."""
    config = load_config(args.data)
    version = await migrate_database(config.database, config.database_path)
    print(version)
    print(f"schema is up to date (version {version})", file=sys.stderr)
    return 0


async def _cmd_migrate_to(args: argparse.Namespace) -> int:
    """Move this node's sqlite data into an empty PostgreSQL database, then point the
    config at it: same keys, same URLs, same history (storage/transfer.py)."""
    import asyncpg

    from storage.transfer import TransferError, copy_sqlite_to_postgres

    config = load_config(args.data)
    if is_postgres_dsn(config.database):
        raise CliError("this node already keeps its data in PostgreSQL")
    if not is_postgres_dsn(args.dsn):
        raise CliError("migrate-to needs a postgresql:// DSN")
    try:
        await migrate_database(config.database, config.database_path)
        await migrate_database(args.dsn, config.database_path)
        counts = await copy_sqlite_to_postgres(config.database_path, args.dsn)
    except (TransferError, OSError, asyncpg.PostgresError) as exc:
        raise CliError(f"nothing was moved: {exc}") from exc
    for count in counts:
        print(f"{count.table}\t{count.source}\t{count.target}")
    # Without the environment's overrides, so that only the database setting changes.
    write_config(dataclasses.replace(load_config(args.data, env={}), database=args.dsn))
    print(f"moved {sum(c.target for c in counts)} rows in {len(counts)} tables; "
          f"{args.data / 'config.toml'} now names the PostgreSQL database", file=sys.stderr)
    return 0


async def _first_run(data_dir: Path) -> None:
    """`serve` on an empty folder gives a working node and a one-time admin password."""
    await initialise(data_dir, DEFAULT_URL)
    config = load_config(data_dir)
    password = secrets.token_urlsafe(12)
    store = await open_store(config.database, config.database_path)
    try:
        await create_account(store, Urls(config.url), "admin", admin=True, password=password)
    finally:
        await store.close()
    print(f"New node at {config.url}. Admin account: admin, password: {password}\n"
          "This password is shown only once.", flush=True)


def _cmd_serve(args: argparse.Namespace) -> int:
    from node.serve import serve

    if not (args.data / "config.toml").exists():
        asyncio.run(_first_run(args.data))
    serve(load_config(args.data), role=args.role, listen=args.listen)
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
    serve.add_argument("--listen", help="HOST:PORT (default from config); a worker listens "
                                        "only when given one, for /healthz and /metrics")
    serve.add_argument("--role", choices=("all", "web", "worker"), default="all",
                       help="all: HTTP and workers in one process (default); web: HTTP "
                            "only; worker: deliveries and jobs only")

    domain = sub.add_parser("domain", help="block or unblock a remote domain")
    domain.add_argument("action", choices=("block", "unblock", "list"))
    domain.add_argument("domain", nargs="?")

    sub.add_parser("migrate", help="apply pending schema migrations")
    migrate_to = sub.add_parser("migrate-to", help="move this node's data to PostgreSQL")
    migrate_to.add_argument("dsn", help="postgresql://... of an empty database")

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
        "domain": _cmd_domain, "migrate": _cmd_migrate, "migrate-to": _cmd_migrate_to,
        "group": _cmd_group, "governance": _cmd_governance, "audit": _cmd_audit,
    }
    try:
        if args.command == "serve":
            return _cmd_serve(args)
        return asyncio.run(commands[args.command](args))
    except (CliError, ConfigError, AccountError, StorageError) as exc:
        print(f"mutual: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
