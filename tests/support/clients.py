"""Real third-party Mastodon clients against real Mutual nodes: the harness.

Mastodon.py (the library bots are written with) and the ``toot`` command line are
used exactly as their users use them, with nothing patched: Mastodon.py in
``version_check_mode="created"``, so every call is refused unless the node's version
enables the feature; toot as a separate process with its own config folder
(``XDG_CONFIG_HOME``), logging in with ``toot login_cli`` as a script would. Both are
synchronous, so these tests are plain functions that start nodes as processes.

A member who signs in on the authorization page is driven as a browser would be, with
``requests``: load the page, fill the form, press the button, follow nothing, read the
code from the redirect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from mastodon import Mastodon

from tests.support.forms import find_form
from tests.support.nodes import MutualNode
from tests.support.oauth import OOB, signed_up

__all__ = [
    "OOB",
    "SCOPES",
    "Toot",
    "code_in",
    "mastodon_app",
    "mastodon_client",
    "running_nodes",
    "sign_in_on_page",
    "signed_up",
    "wait_for",
]

T = TypeVar("T")
SCOPES = ["read", "write", "follow", "push"]


@contextmanager
def running_nodes(root: Path, *names: str,
                  members: dict[str, list[tuple[str, str]]] | None = None
                  ) -> Iterator[dict[str, MutualNode]]:
    """Start nodes ``names`` as processes, each with its members (name, email) able
    to sign in; stop them all afterwards, whatever happened."""
    nodes: dict[str, MutualNode] = {}
    try:
        for name in names:
            node = MutualNode(name=name, root=root, session=None)
            node.init()
            nodes[name] = node
            for member, email in (members or {}).get(name, []):
                signed_up(node, member, email=email)
            node.start_sync()
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def wait_for(check: Callable[[], T | None], *, within: float = 20.0,
             interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy (federation is asynchronous)."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")


def mastodon_app(node: MutualNode, *, redirect_uris: str | list[str] = OOB,
                 name: str = "mutual tests") -> Mastodon:
    """A registered app, not signed in, that checks versions as strictly as it can."""
    client_id, secret = Mastodon.create_app(name, scopes=SCOPES, redirect_uris=redirect_uris,
                                            api_base_url=node.url)
    return Mastodon(client_id=client_id, client_secret=secret, api_base_url=node.url,
                    version_check_mode="created")


def mastodon_client(node: MutualNode, login: str, password: str) -> Mastodon:
    """An app signed in with the password grant (how Mastodon.py bots log in)."""
    client = mastodon_app(node)
    client.log_in(login, password, scopes=SCOPES, allow_http=True)
    return client


def sign_in_on_page(authorize_url: str, login: str, password: str, *,
                    decision: str = "approve") -> str:
    """Sign in and consent on the node's pages as a browser does; returns the URL the
    node redirects to (the app's redirect URI with ``code`` and ``state``)."""
    with requests.Session() as browser:
        page = browser.get(authorize_url, timeout=30)
        assert page.status_code == 200, page.text
        form = find_form(page.text, page.url)
        consent = browser.post(form.action, data=form.submit(login=login, password=password),
                               timeout=30, allow_redirects=False)
        assert consent.status_code == 200, consent.text
        form = find_form(consent.text, form.action)
        done = browser.post(form.action, data=form.submit(button=decision), timeout=30,
                            allow_redirects=False)
        assert done.status_code == 302, done.text
        return urljoin(form.action, done.headers["Location"])


def code_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)["code"][0]


class Toot:
    """The ``toot`` command line, run as its own process with its own config folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "toot", *args], capture_output=True, text=True,
            timeout=60, check=False, stdin=subprocess.DEVNULL,
            env={**os.environ, "XDG_CONFIG_HOME": str(self.home), "NO_COLOR": "1",
                 "TERM": "dumb"})
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    @property
    def config(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "toot" / "config.json").read_text()))
