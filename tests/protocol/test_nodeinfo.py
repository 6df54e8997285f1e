"""NodeInfo: our documents validate against the published schemas; remote ones parse."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from protocol.nodeinfo import (
    NodeInfo,
    NodeInfoError,
    content_type,
    document,
    parse,
    parse_well_known,
    well_known,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nodeinfo"
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
}


def _load(name: str) -> dict[str, Any]:
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def schema_errors(instance: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The draft-04 keywords the NodeInfo schemas use, and nothing more."""
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None and (
        not isinstance(instance, _TYPES[expected])
        or (expected == "integer" and isinstance(instance, bool))
    ):
        return [f"{path}: not {expected}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} not in enum")
    if "pattern" in schema and not re.search(schema["pattern"], instance):
        errors.append(f"{path}: {instance!r} does not match {schema['pattern']}")
    if "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{path}: below minimum")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{path}: too few items")
        for index, item in enumerate(instance):
            errors += schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    if isinstance(instance, dict):
        if len(instance) < schema.get("minProperties", 0):
            errors.append(f"{path}: too few properties")
        errors += [
            f"{path}: missing {key}" for key in schema.get("required", []) if key not in instance
        ]
        properties = schema.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                errors += schema_errors(value, properties[key], f"{path}.{key}")
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{path}: unexpected {key}")
    return errors


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_validator_accepts_the_official_examples_and_catches_mistakes(version: str) -> None:
    schema = _load(f"schema_{version}.json")
    example = _load(f"example_{version}.json")
    assert schema_errors(example, schema) == []
    broken = json.loads(json.dumps(example))
    broken["software"]["name"] = "Not Valid"
    broken["usage"]["users"]["total"] = -1
    broken["extra"] = True
    assert len(schema_errors(broken, schema)) == 3


def _ours(version: str, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "software_version": "0.1.0",
        "open_registrations": False,
        "users_total": 23,
        "active_month": 9,
        "active_halfyear": 17,
        "local_posts": 412,
        "metadata": {"nodeName": "Garden co-op", "governance": "mutual"},
        "software_repository": "https://example.org/mutual.git",
        "software_homepage": "https://example.org/mutual",
    }
    arguments.update(overrides)
    return document(version, **arguments)


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_our_document_is_valid_against_the_schema(version: str) -> None:
    ours = _ours(version)
    assert schema_errors(ours, _load(f"schema_{version}.json")) == []
    assert ours["version"] == version
    assert ours["protocols"] == ["activitypub"]
    assert ours["services"] == {"inbound": [], "outbound": []}
    assert ours["usage"] == {
        "users": {"total": 23, "activeMonth": 9, "activeHalfyear": 17},
        "localPosts": 412,
    }


def test_repository_and_homepage_only_in_2_1() -> None:
    assert set(_ours("2.0")["software"]) == {"name", "version"}
    assert _ours("2.1")["software"] == {
        "name": "mutual",
        "version": "0.1.0",
        "repository": "https://example.org/mutual.git",
        "homepage": "https://example.org/mutual",
    }
    plain = _ours("2.1", software_repository=None, software_homepage=None)
    assert set(plain["software"]) == {"name", "version"}


@pytest.mark.parametrize(
    "overrides", [{"software_name": "Mutual"}, {"users_total": -1}, {"software_name": ""}]
)
def test_invalid_document_arguments_are_our_bug(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="NodeInfo"):
        _ours("2.1", **overrides)


def test_unsupported_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        _ours("1.0")


def test_well_known_links_both_versions_and_round_trips() -> None:
    links = well_known("https://coop.example/")
    assert links == {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": "https://coop.example/nodeinfo/2.0",
            },
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                "href": "https://coop.example/nodeinfo/2.1",
            },
        ]
    }
    assert parse_well_known(links) == "https://coop.example/nodeinfo/2.1"


def test_parse_well_known_prefers_the_newest_schema_and_skips_junk() -> None:
    doc = {
        "links": [
            "junk",
            {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": "https://a/2.1"},
            {"rel": "http://nodeinfo.diaspora.software/ns/schema/1.0", "href": "https://a/1.0"},
            {"rel": "https://nodeinfo.example/other", "href": "https://a/x"},
        ]
    }
    assert parse_well_known(doc) == "https://a/2.1"
    with pytest.raises(NodeInfoError):
        parse_well_known({"links": [{"rel": "other", "href": "https://a"}]})


def test_content_type_carries_the_schema_profile() -> None:
    assert content_type("2.1") == (
        'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    )


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_official_examples_parse(version: str) -> None:
    assert parse(_load(f"example_{version}.json")) == NodeInfo(
        version=version,
        software_name="diaspora",
        software_version="0.5.0",
        protocols=("diaspora",),
        open_registrations=True,
        users_total=123,
        node_name=None,
    )


def test_our_own_document_parses_back() -> None:
    parsed = parse(_ours("2.0"))
    assert parsed.software_name == "mutual"
    assert parsed.protocols == ("activitypub",)
    assert parsed.node_name == "Garden co-op"


def test_parse_tolerates_what_real_nodes_send() -> None:
    legacy = {
        "version": "1.0",
        "software": {"name": "  Friendica ", "version": 3},
        "protocols": {"inbound": ["ActivityPub", "diaspora"], "outbound": ["activitypub"]},
        "usage": "n/a",
        "openRegistrations": "yes",
    }
    assert parse(legacy) == NodeInfo(
        version="1.0",
        software_name="friendica",
        software_version=None,
        protocols=("activitypub", "diaspora"),
        open_registrations=None,
        users_total=None,
        node_name=None,
    )


@pytest.mark.parametrize("doc", [{}, {"software": "mastodon"}, {"software": {"name": " "}}])
def test_parse_without_software_name_is_an_error(doc: dict[str, Any]) -> None:
    with pytest.raises(NodeInfoError):
        parse(doc)
