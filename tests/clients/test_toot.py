"""The ``toot`` command line, unmodified, against real Mutual nodes (issue 4,
acceptance 1).

toot runs as its own process with its own config folder, and logs in the way a
script does: ``toot login_cli --instance URL --email ADDRESS --password PASSWORD``
(it registers its app with a JSON body and asks for the token with a form).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import Toot, running_nodes, wait_for
from tests.support.nodes import MutualNode
from tests.support.oauth import PASSWORD

pytestmark = pytest.mark.federation


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MutualNode]]:
    members = {"a": [("ana", "ana@coop.example")], "b": [("bo", "bo@club.example")]}
    with running_nodes(tmp_path_factory.mktemp("toot"), "a", "b",
                       members=members) as started:
        yield started


def test_toot_reads_the_instance_without_signing_in(tmp_path: Path,
                                                    nodes: dict[str, MutualNode]) -> None:
    toot = Toot(tmp_path / "anon")
    shown = toot.run("instance", nodes["a"].url).stdout  # parsed into toot's Instance
    assert "4.3.0 (compatible; Mutual" in shown
    assert toot.json("instance", nodes["a"].url)["uri"] == nodes["a"].host


def test_toot_logs_in_headless_with_email_and_password(tmp_path: Path,
                                                       nodes: dict[str, MutualNode]) -> None:
    toot = Toot(tmp_path / "ana")
    a = nodes["a"]
    toot.run("login_cli", "--instance", a.url, "--email", "ana@coop.example",
             "--password", PASSWORD)
    config = toot.config
    assert config["active_user"] == f"ana@{a.host}"
    assert config["apps"][a.host]["base_url"] == a.url
    assert f"ana@{a.host}" in toot.run("auth").stdout
    refused = toot.run("login_cli", "--instance", a.url, "--email", "ana@coop.example",
                       "--password", "wrong", check=False)
    assert refused.returncode != 0
    assert "Login failed" in refused.stderr


def _logged_in(home: Path, node: MutualNode, email: str) -> Toot:
    toot = Toot(home)
    toot.run("login_cli", "--instance", node.url, "--email", email, "--password", PASSWORD)
    return toot


def _timeline(toot: Toot, *which: str) -> list[dict[str, Any]]:
    return list(toot.json("timelines", *which))


def _arrived(toot: Toot, uri: str) -> dict[str, Any]:
    """The status with this ActivityPub id in the home timeline, once it arrived."""
    return wait_for(lambda: next((s for s in _timeline(toot, "home") if s["uri"] == uri),
                                 None))


def test_toot_posts_follows_interacts_votes_and_deletes(tmp_path: Path,
                                                        nodes: dict[str, MutualNode]) -> None:
    a, b = nodes["a"], nodes["b"]
    ana = _logged_in(tmp_path / "ana", a, "ana@coop.example")
    bo = _logged_in(tmp_path / "bo", b, "bo@club.example")
    # bo, on another node, follows ana by acct; ana is told.
    bo.run("follow", f"ana@{a.host}")
    wait_for(lambda: [n for n in ana.json("notifications")
                      if n["type"] == "follow" and n["account"]["acct"] == f"bo@{b.host}"])
    # A post with a poll: in ana's home and public timelines, and in bo's home.
    mine = ana.json("post", "Which day for the work party?", "--poll-option", "Saturday",
                    "--poll-option", "Sunday", "--poll-expires-in", "8s")
    assert [o["title"] for o in mine["poll"]["options"]] == ["Saturday", "Sunday"]
    assert mine["id"] in [s["id"] for s in _timeline(ana, "home")]
    assert mine["id"] in [s["id"] for s in _timeline(ana, "public")]
    # bo votes in it from his node.
    bo.run("polls", "vote", _arrived(bo, mine["uri"])["poll"]["id"], "1")
    counted = wait_for(lambda: (p := ana.json("polls", "show", mine["poll"]["id"]))
                       ["votes_count"] == 1 and p)
    assert [o["votes_count"] for o in counted["options"]] == [0, 1]
    # bo favourites and boosts another post; ana is told.
    hello = ana.json("post", "Tools are in the shed")
    seen = _arrived(bo, hello["uri"])
    bo.run("favourite", seen["id"])
    bo.run("reblog", seen["id"])

    def told() -> set[str]:
        return {n["type"] for n in ana.json("notifications")
                if n.get("status") and n["status"]["id"] == hello["id"]}

    assert wait_for(lambda: {"favourite", "reblog"} <= told() and told())
    # At the poll's end ana is told its result.
    wait_for(lambda: [n for n in ana.json("notifications")
                      if n["type"] == "poll" and n["status"]["id"] == mine["id"]], within=30)
    # ana deletes her post: gone from her timeline, and from bo's once it federates.
    ana.run("delete", hello["id"])
    assert hello["id"] not in [s["id"] for s in _timeline(ana, "home")]
    wait_for(lambda: hello["uri"] not in [s["uri"] for s in _timeline(bo, "home")])
