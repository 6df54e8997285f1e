"""/api/v1/instance, /api/v2/instance, peers and rules: the fields and types Mastodon
documents (apps crash on a missing one), with and without a trailing slash; peers
learnt from federation and dropped by a domain block; rules from the config or from
the governing group.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from node.api import limits
from node.api.instance import instance_rules
from node.governance.common import GOVERNING_GROUP
from storage.governance import GroupRecord
from tests.support.nodes import Cluster, MutualNode, eventually
from tests.support.oauth import request

RULES = "Be kind\n\n- No ads\n2. Decide together"


async def _get(cluster: Cluster, node: MutualNode, path: str) -> Any:
    reply = await request(cluster.session, "GET", node.url + path)
    assert reply.status == 200, (path, reply)
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.body


async def test_instance_documents_have_mastodons_fields_with_and_without_slash(
        cluster: Cluster) -> None:
    a = await cluster.node("a", env={"MUTUAL_SERVER_RULES": RULES,
                                     "MUTUAL_SERVER_CONTACT_EMAIL": "admin@coop.example"})
    a.member("ana")
    v1 = await _get(cluster, a, "/api/v1/instance")
    assert v1 == await _get(cluster, a, "/api/v1/instance/")
    assert v1["uri"] == a.host
    assert v1["version"] == "4.3.0 (compatible; Mutual 0.1.0)"
    assert v1["urls"] == {"streaming_api": f"ws://{a.host}"}
    assert v1["stats"] == {"user_count": 1, "status_count": 0, "domain_count": 0}
    assert v1["email"] == "admin@coop.example"
    assert v1["registrations"] is False
    assert v1["contact_account"] is None
    config = v1["configuration"]
    # What posting enforces (node.api.limits), advertised as is.
    assert config["statuses"] == {"max_characters": limits.MAX_CHARACTERS,
                                  "max_media_attachments": limits.MAX_MEDIA_ATTACHMENTS,
                                  "characters_reserved_per_url": 23}
    assert config["polls"] == {"max_options": limits.POLL_MAX_OPTIONS,
                               "max_characters_per_option":
                                   limits.POLL_MAX_CHARACTERS_PER_OPTION,
                               "min_expiration": limits.POLL_MIN_EXPIRATION,
                               "max_expiration": limits.POLL_MAX_EXPIRATION}
    assert (config["statuses"]["max_characters"], config["polls"]["max_options"]) == (5000, 20)
    assert config["accounts"]["max_featured_tags"] == limits.MAX_FEATURED_TAGS
    assert isinstance(config["media_attachments"]["supported_mime_types"], list)

    v2 = await _get(cluster, a, "/api/v2/instance/")
    assert v2 == await _get(cluster, a, "/api/v2/instance")
    assert v2["domain"] == a.host
    assert v2["version"] == v1["version"]
    assert v2["api_versions"] == {"mastodon": 2}
    assert v2["configuration"]["urls"]["streaming"] == f"ws://{a.host}"
    assert v2["configuration"]["polls"] == config["polls"]
    assert v2["registrations"]["enabled"] is False
    assert v2["contact"] == {"email": "admin@coop.example", "account": None}
    assert v2["usage"] == {"users": {"active_month": 1}}
    async with cluster.session.get(v2["thumbnail"]["url"]) as thumbnail:
        assert thumbnail.content_type == "image/png"
        assert (await thumbnail.read()).startswith(b"\x89PNG\r\n")

    expected = [{"id": "1", "text": "Be kind", "hint": ""},
                {"id": "2", "text": "No ads", "hint": ""},
                {"id": "3", "text": "Decide together", "hint": ""}]
    assert v1["rules"] == v2["rules"] == expected
    assert await _get(cluster, a, "/api/v1/instance/rules") == expected
    assert await _get(cluster, a, "/api/v1/instance/rules/") == expected


@pytest.mark.federation
async def test_peers_are_the_hosts_we_federate_with_minus_blocked_ones(
        cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    ana, bo = a.member("ana"), b.member("bo")
    assert await _get(cluster, a, "/api/v1/instance/peers") == []
    await bo.post({"type": "Follow", "object": ana.actor_id})

    async def peers() -> list[str]:
        return list(await _get(cluster, a, "/api/v1/instance/peers/"))

    assert await eventually(peers) == [b.host]
    a.cli("domain", "block", b.host)
    assert await _get(cluster, a, "/api/v1/instance/peers") == []


@dataclass
class _Store:
    meta: dict[str, str]
    groups: dict[str, GroupRecord]

    async def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    async def get_group(self, actor_id: str) -> GroupRecord | None:
        return self.groups.get(actor_id)


async def test_a_governing_groups_rules_replace_the_configured_ones() -> None:
    group = "https://coop.example/groups/council"
    store = _Store(meta={}, groups={group: GroupRecord(actor_id=group, closed=True,
                                                       rules="* Minutes are public\n")})
    node: Any = SimpleNamespace(config=SimpleNamespace(rules="Be kind"), store=store)
    assert await instance_rules(node) == [{"id": "1", "text": "Be kind", "hint": ""}]
    store.meta[GOVERNING_GROUP] = group
    assert await instance_rules(node) == [{"id": "1", "text": "Minutes are public",
                                           "hint": ""}]
    store.groups[group] = GroupRecord(actor_id=group, closed=True, rules="  ")
    assert await instance_rules(node) == [{"id": "1", "text": "Be kind", "hint": ""}]
