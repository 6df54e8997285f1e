"""Offline JSON-LD: every real document expands without the network; normalise degrades."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld as pyld_jsonld

from protocol import jsonld, jsonld_loader
from protocol.errors import MalformedActivity
from protocol.jsonld import ContextUnavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jsonld"
# The corpus README names these two as using unpublished vendor contexts.
VENDOR_CONTEXT_DOCUMENTS = frozenset(
    {"funkwhale/fedidevs_actor_live_2024-04-11.json", "mbin/lemmyassets_instance.json"}
)
AS2 = "https://www.w3.org/ns/activitystreams"
MASTODON_TERMS = (
    "manuallyApprovesFollowers",
    "sensitive",
    "Hashtag",
    "toot",
    "votersCount",
    "featured",
    "discoverable",
    "indexable",
    "schema",
    "PropertyValue",
    "value",
)


def _load(relative: str) -> dict[str, Any]:
    with (FIXTURES / relative).open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


CORPUS = sorted(path.relative_to(FIXTURES).as_posix() for path in FIXTURES.rglob("*.json"))


def test_fixture_corpus_holds_all_context_bearing_documents() -> None:
    assert len(CORPUS) >= 150
    assert all("@context" in _load(name) for name in CORPUS)


@pytest.mark.parametrize("name", [n for n in CORPUS if n not in VENDOR_CONTEXT_DOCUMENTS])
def test_real_document_expands_offline(name: str) -> None:
    expanded = jsonld.expand(_load(name))
    assert expanded, "expansion dropped the whole document"


@pytest.mark.parametrize("name", sorted(VENDOR_CONTEXT_DOCUMENTS))
def test_vendor_context_raises_unavailable_and_normalise_keeps_plain_json(name: str) -> None:
    document = _load(name)
    with pytest.raises(ContextUnavailable) as caught:
        jsonld.expand(document)
    assert caught.value.reason == "context-unavailable"
    assert jsonld.normalise(document) is document


def test_loader_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    # Cold caches, so the loader and the package files are really exercised.
    monkeypatch.setattr(
        pyld_jsonld, "_resolved_context_cache", type(pyld_jsonld._resolved_context_cache)(100)
    )
    jsonld_loader.load_context_file.cache_clear()

    for name in CORPUS:
        document = _load(name)
        if name in VENDOR_CONTEXT_DOCUMENTS:
            with pytest.raises(ContextUnavailable):
                jsonld.expand(document)
        else:
            jsonld.expand(document)
    with pytest.raises(ContextUnavailable):
        jsonld.document_loader("https://unknown.example/context.jsonld")
    assert attempts == []


@pytest.mark.parametrize(
    "url",
    [
        "https://www.w3.org/ns/activitystreams",
        "http://www.w3.org/ns/activitystreams",
        "https://www.w3.org/ns/activitystreams#",
        "https://www.w3.org/ns/activitystreams/",
        "HTTPS://WWW.W3.ORG/ns/activitystreams",
    ],
)
def test_loader_maps_spellings_of_a_context_url(url: str) -> None:
    remote = jsonld.document_loader(url)
    assert remote["documentUrl"] == url
    assert remote["contextUrl"] is None
    assert "@context" in remote["document"]
    assert remote["document"]["@context"]["as"] == "https://www.w3.org/ns/activitystreams#"


def test_loader_maps_every_litepub_host_to_the_pleroma_context() -> None:
    for url in (
        "https://akko.eepy.zone/schemas/litepub-0.1.jsonld",
        "http://pleroma.local:4000/schemas/litepub-0.1.jsonld",
    ):
        context = jsonld.document_loader(url)["document"]["@context"]
        assert "https://purl.archive.org/socialweb/webfinger" in context


def test_bare_mastodon_namespace_falls_back_to_the_synthetic_context() -> None:
    for url in ("http://joinmastodon.org/ns", "http://joinmastodon.org/ns#"):
        context = jsonld.document_loader(url)["document"]["@context"]
        assert context["votersCount"] == "toot:votersCount"


def test_loader_returns_a_copy_so_callers_cannot_corrupt_the_cache() -> None:
    first = jsonld.document_loader(AS2)
    first["document"]["@context"]["as"] = "tampered"
    assert jsonld.document_loader(AS2)["document"]["@context"]["as"].startswith("https://")


def test_unknown_context_is_unavailable_not_fetched() -> None:
    with pytest.raises(ContextUnavailable):
        jsonld.document_loader("https://funkwhale.audio/ns")


def test_document_pyld_rejects_is_malformed() -> None:
    document = {
        "@context": [AS2, {"content": {"@id": "as:content", "@container": "@bogus"}}],
        "content": "x",
    }
    with pytest.raises(MalformedActivity) as caught:
        jsonld.expand(document)
    assert caught.value.reason == "jsonld-invalid"
    assert jsonld.normalise(document) is document


def test_mastodon_note_takes_the_fast_path_unchanged() -> None:
    document = _load("mastodon/lemmyassets_note_1.json")
    assert jsonld.normalise(document) is document


def test_document_without_context_is_unchanged() -> None:
    document = {"id": "https://lemmy.example/comment/1", "type": "Note", "content": "hi"}
    assert jsonld.normalise(document) is document


@pytest.mark.parametrize(
    "name",
    [
        "akkoma/aster_create_note_public.json",  # per-host litepub context + @language
        "gotosocial/create_note_wrapped.json",  # gotosocial.org/ns
        "fep-8b32/vector_signed_create_eddsa-jcs-2022.json",  # data-integrity, scoped terms
        "misskey/hideout_note_with_custom_emoji.json",  # "Key": "sec:Key" and _misskey_*
        "peertube/lemmyassets_note.json",  # schema.org spelled with '/'
        "mastodon/fedidevs_actor_live_2024-04-11.json",  # toot:EncryptedMessage et al.
    ],
)
def test_common_vendor_contexts_are_standard_enough_for_the_fast_path(name: str) -> None:
    document = _load(name)
    assert jsonld.normalise(document) is document


def test_lemmy_context_is_recompacted_so_expires_becomes_end_time() -> None:
    document = {
        "@context": ["https://join-lemmy.org/context.json", AS2],
        "id": "https://lemmy.example/activities/block/1",
        "type": "Block",
        "actor": "https://lemmy.example/u/mod",
        "object": "https://other.example/u/troll",
        "expires": "2030-01-01T00:00:00Z",
    }
    normalised = jsonld.normalise(document)
    assert normalised["endTime"] == "2030-01-01T00:00:00Z"
    assert "expires" not in normalised
    assert normalised["@context"] == jsonld.standard_context()


def test_aliased_as2_term_is_renamed_to_its_standard_name() -> None:
    document = {
        "@context": [AS2, {"body": "as:content", "nsfw": "as:sensitive"}],
        "id": "https://odd.example/notes/1",
        "type": "Note",
        "body": "<p>hello</p>",
        "nsfw": True,
    }
    normalised = jsonld.normalise(document)
    assert normalised["content"] == "<p>hello</p>"
    assert normalised["sensitive"] is True


def test_redefined_standard_term_is_not_trusted_by_name() -> None:
    document = {
        "@context": [AS2, {"location": "http://schema.org#location"}],
        "id": "https://events.example/e/1",
        "type": "Event",
        "location": "Town hall",
    }
    normalised = jsonld.normalise(document)
    assert "location" not in normalised
    assert normalised["schema:location"] == "Town hall"


def test_default_language_does_not_turn_names_into_language_maps() -> None:
    document = _load("mobilizon/lemmyassets_person.json")
    normalised = jsonld.normalise(document)
    assert normalised is not document  # Mobilizon redefines "location": slow path
    assert normalised["name"] == document["name"]
    assert "nameMap" not in normalised


def test_compact_keeps_mastodon_extension_names() -> None:
    document = {
        "@context": [AS2, {"toot": "http://joinmastodon.org/ns#", "votersCount": "toot:votersCount",
                           "sensitive": "as:sensitive"}],
        "id": "https://m.example/users/a/statuses/1",
        "type": "Question",
        "votersCount": 3,
        "sensitive": False,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }  # fmt: skip
    compacted = jsonld.compact_to_as2(document)
    assert compacted["votersCount"] == 3
    assert compacted["sensitive"] is False
    assert compacted["type"] == "Question"


def test_standard_context_is_what_mastodon_sends_and_expands_offline() -> None:
    context = jsonld.standard_context()
    assert context[:2] == [AS2, "https://w3id.org/security/v1"]
    terms = context[2]
    for term in MASTODON_TERMS:
        assert term in terms, term
    context.append("mutated")
    assert jsonld.standard_context()[-1] != "mutated"
    actor = {
        "@context": jsonld.standard_context(),
        "id": "https://coop.example/users/ana",
        "type": "Person",
        "discoverable": True,
        "publicKey": {"id": "https://coop.example/users/ana#main-key", "publicKeyPem": "x"},
    }
    expanded = jsonld.expand(actor)
    assert "http://joinmastodon.org/ns#discoverable" in expanded[0]
    assert jsonld.normalise(actor) is actor
