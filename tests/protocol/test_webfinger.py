"""WebFinger: we serve what Mastodon serves and read what everyone sends."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from protocol.webfinger import (
    WebFingerError,
    acct_parts,
    build_jrd,
    host_meta_xml,
    parse_jrd,
    parse_resource,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webfinger"


def _load(name: str) -> dict[str, Any]:
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("acct:ana@coop.example", "ana"),
        ("ACCT:ana@Coop.Example", "ana"),
        ("ana@coop.example", "ana"),
        ("@ana@coop.example", "ana"),
        ("  acct:Ana@coop.example ", "Ana"),
        ("https://coop.example/users/ana", "ana"),
        ("https://COOP.example/users/ana/", "ana"),
        ("https://coop.example/users/ana#main-key", "ana"),
        ("https://coop.example/@ana", "ana"),
        ("https://coop.example/groups/garden", "garden"),
        ("acct:ana@other.example", None),
        ("acct:ana@coop.example:8443", None),
        ("https://other.example/users/ana", None),
        ("https://coop.example/notes/1", None),
        ("https://coop.example/users/ana/outbox", None),
    ],
)
def test_parse_resource(resource: str, expected: str | None) -> None:
    assert parse_resource(resource, local_host="coop.example") == expected


def test_parse_resource_tells_loopback_nodes_apart_by_port() -> None:
    assert parse_resource("acct:bo@127.0.0.1:8081", local_host="127.0.0.1:8081") == "bo"
    assert parse_resource("acct:bo@127.0.0.1:8082", local_host="127.0.0.1:8081") is None
    assert parse_resource("acct:bo@127.0.0.1", local_host="127.0.0.1:8081") is None
    assert parse_resource("http://127.0.0.1:8081/users/bo", local_host="127.0.0.1:8081") == "bo"


@pytest.mark.parametrize(
    "resource", ["", "acct:", "acct:@coop.example", "ana", "ana@", "a@b@c", "acct:ana@exa mple"]
)
def test_unparsable_resource_is_an_error_for_a_400(resource: str) -> None:
    with pytest.raises(WebFingerError):
        parse_resource(resource, local_host="coop.example")


@pytest.mark.parametrize(
    ("acct", "expected"),
    [
        ("ana@coop.example", ("ana", "coop.example")),
        ("@Bo@B.Example:8081", ("Bo", "b.example:8081")),
        ("acct:bo@[::1]:8080", ("bo", "[::1]:8080")),
    ],
)
def test_acct_parts(acct: str, expected: tuple[str, str]) -> None:
    assert acct_parts(acct) == expected


def test_build_jrd_is_exactly_what_mastodon_serves() -> None:
    served = _load("mastodon_webfinger_live_2024-04-11.json")
    served["links"] = [
        link for link in served["links"] if link["rel"] != "http://webfinger.net/rel/avatar"
    ]
    built = build_jrd(
        username="Gargron",
        host="mastodon.social",
        actor_url="https://mastodon.social/users/Gargron",
        profile_url="https://mastodon.social/@Gargron",
        subscribe_template="https://mastodon.social/authorize_interaction?uri={uri}",
    )
    assert built == served
    assert parse_jrd(built) == "https://mastodon.social/users/Gargron"


def test_build_jrd_without_subscribe_template() -> None:
    built = build_jrd(
        username="ana",
        host="coop.example",
        actor_url="https://coop.example/users/ana",
        profile_url="https://coop.example/@ana",
    )
    assert [link["rel"] for link in built["links"]] == [
        "http://webfinger.net/rel/profile-page",
        "self",
    ]


EXPECTED_SELF = {
    "funkwhale_webfinger_live_2024-04-11.json": "https://open.audio/federation/actors/Greensky",
    "hubzilla_webfinger_live_2024-04-11.json": "https://authorship.studio/channel/scott",
    "mastodon_docs_minimal_viable.json": "https://host.example/accounts/username",
    "misskey_webfinger_live_2024-04-11.json": "https://misskey.io/users/7rkrarq81i",
}


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_real_jrd_names_an_actor(name: str) -> None:
    href = parse_jrd(_load(name))
    assert href.startswith(("https://", "http://"))
    if name in EXPECTED_SELF:
        assert href == EXPECTED_SELF[name]


def test_ld_json_with_activitystreams_profile_is_accepted_when_alone() -> None:
    jrd = {
        "links": [
            {"rel": "self", "type": "application/ld+json", "href": "https://a.example/nope"},
            {
                "rel": "self",
                "type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                "href": "https://a.example/actor",
            },
        ]
    }
    assert parse_jrd(jrd) == "https://a.example/actor"


def test_activity_json_is_preferred_over_ld_json() -> None:
    jrd = _load("hubzilla_webfinger_live_2024-04-11.json")
    assert jrd["links"].index(
        next(link for link in jrd["links"] if "ld+json" in link.get("type", ""))
    ) < jrd["links"].index(
        next(link for link in jrd["links"] if link.get("type") == "application/activity+json")
    )
    assert parse_jrd(jrd) == EXPECTED_SELF["hubzilla_webfinger_live_2024-04-11.json"]


@pytest.mark.parametrize(
    "jrd",
    [
        {},
        {"links": "nope"},
        {"links": [{"rel": "self", "type": "text/html", "href": "https://a.example/@a"}]},
        {"links": [{"rel": "self", "type": "application/activity+json"}]},
        {"links": [{"rel": "self", "type": "application/activity+json", "href": "javascript:1"}]},
        {"links": [{"rel": "profile", "type": "application/activity+json", "href": "https://a"}]},
    ],
)
def test_jrd_without_activitypub_self_link_is_an_error(jrd: dict[str, Any]) -> None:
    with pytest.raises(WebFingerError) as caught:
        parse_jrd(jrd)
    assert caught.value.reason == "webfinger-no-self"


def test_host_meta_points_lrdd_at_our_webfinger() -> None:
    document = host_meta_xml("https://coop.example/")
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(document)
    assert root.tag == "{http://docs.oasis-open.org/ns/xri/xrd-1.0}XRD"
    (link,) = list(root)
    assert link.attrib == {
        "rel": "lrdd",
        "template": "https://coop.example/.well-known/webfinger?resource={uri}",
    }


def test_host_meta_escapes_the_base_url() -> None:
    root = ET.fromstring(host_meta_xml('https://a.example/x"&y'))
    assert root[0].attrib["template"].startswith('https://a.example/x"&y/')
