"""The inbox never answers 500: random JSON shapes, validly signed, get at most a 4xx.

Hypothesis draws activity-like documents (mostly well-formed enough to reach the
handlers: the sender's own actor, fresh ids, known local and remote URLs) and junk;
each is POSTed signed as Mastodon signs, so what is tested is the parsing, the
authorisation and the handlers, not the signature check.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.home import Home, home_node
from tests.support.peer import Peer, RemoteActor

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"


class Env(Home):
    peer: Peer
    shapes: st.SearchStrategy[Any] | None = None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with home_node(tmp_path_factory.mktemp("fuzz")) as home, Peer() as peer:
        env = Env(node=home.node, ana=home.ana)
        env.peer = peer
        yield env


KEYS = ["@context", "id", "type", "actor", "object", "target", "to", "cc", "bto", "bcc",
        "audience", "tag", "attributedTo", "content", "contentMap", "summary", "name",
        "inReplyTo", "published", "url", "href", "oneOf", "anyOf", "publicKey", "inbox",
        "endpoints", "followers", "sensitive", "context"]
TYPES = ["Create", "Update", "Delete", "Follow", "Accept", "Reject", "Undo", "Like",
         "Announce", "Block", "Flag", "Move", "Add", "Remove", "Note", "Article", "Question",
         "Person", "Tombstone", "Mention", "Hashtag", "Collection"]


def shapes(env: Home, sender: RemoteActor, local_post: str) -> st.SearchStrategy[Any]:
    """Activity-like documents, mostly well-formed enough to reach the handlers."""
    fresh = st.integers(0, 2**31).map(lambda n: f"{sender.id}/objects/{n}")
    known = st.sampled_from([
        sender.id, sender.followers, env.ana.actor_id, f"{env.ana.actor_id}/followers",
        local_post, env.node.url, PUBLIC, "as:Public", "https://elsewhere.example/x"])
    junk = st.sampled_from(["urn:uuid:1", "", "http://", "ftp://a/b", "http://u:p@h/x"])
    url = fresh | known | known | junk
    kind = st.sampled_from(TYPES)
    contexts = st.sampled_from([AS, [AS, "https://w3id.org/security/v1"],
                                [AS, {"toot": "http://joinmastodon.org/ns#"}],
                                ["https://unknown.example/ctx.jsonld"], {"@vocab": AS}])
    leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
            | st.text(max_size=12) | url | kind)
    value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6),
                                           inner, max_size=5), max_leaves=20)

    def thing(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        core = st.fixed_dictionaries({
            "id": st.one_of(fresh, fresh, fresh, known, junk, value),
            "type": st.one_of(kind, kind, kind, value),
            "actor": st.just(sender.id) | st.just(sender.id) | url,
            "object": inner | url | st.lists(inner, max_size=2)})
        extra = st.dictionaries(st.sampled_from(KEYS), inner | url | url, max_size=6)
        return st.tuples(core, extra, contexts | st.none()).map(
            lambda p: {**p[1], **p[0], **({"@context": p[2]} if p[2] else {})})

    documents = st.recursive(thing(value), thing, max_leaves=3)
    return st.one_of(documents, documents, documents, value)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
async def test_random_json_shapes_signed_validly_never_get_a_500(env: Env,
                                                                 data: st.DataObject) -> None:
    sender = env.peer.actor("fuzzer")
    if env.shapes is None:  # built once: a post of ana's to aim at, then the strategy
        post = await env.ana.post({"type": "Note", "content": "a post to aim at"})
        env.shapes = shapes(env, sender, post["object"]["id"])
    doc = data.draw(env.shapes, label="body")
    reply = await env.peer.signed_post(env.inbox, json.dumps(doc).encode(), actor=sender)
    assert reply.status < 500, reply


# Well-formed, so that the request gets as far as its signature.
_LIKE = json.dumps({"id": "https://peer.example/likes/1", "type": "Like",
                    "actor": "https://peer.example/users/f",
                    "object": "https://peer.example/notes/1"}).encode()
_HEADER_TEXT = st.one_of(
    # (control characters: the client refuses to send them)
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=("Cc",)),
            max_size=60),
    st.lists(st.sampled_from(['keyId="', "https://peer.example/users/f#main-key", '"', ",",
                              'signature="', "AA==", "\u00e9", 'headers="', "(request-target)",
                              " date digest", "sig1=", '("@method")', ";keyid=", ":AA==:",
                              'algorithm="hs2019"', "created=", "99999999999999", "SHA-256="]),
             max_size=10).map("".join))


@settings(max_examples=60, deadline=None)
@given(headers=st.dictionaries(st.sampled_from(["Signature", "Signature-Input", "Digest",
                                                "Content-Digest", "Date"]), _HEADER_TEXT,
                               min_size=1))
# Each was a 500 (a ValueError): a signature that is not ASCII; a key id whose port is
# out of range, or whose host is a broken IPv6 literal (in the rate limiter and in
# host_of, both fixed).
@example(headers={"Signature": 'keyId="https://peer.example/users/f#main-key",'
                               'signature="\u00e9"'})
@example(headers={"Signature": 'keyId="https://peer.example:99999/users/f#main-key",'
                               'headers="(request-target) host date digest",'
                               'signature="AA=="'})
@example(headers={"Signature": 'keyId="https://[::1/users/f#main-key",signature="AA=="'})
async def test_random_signature_headers_never_get_a_500(env: Env,
                                                       headers: dict[str, str]) -> None:
    """The signature parsers behind the real inbox, with hostile header values, sent
    as through a proxy from some client, so that the rate limiter reads them too."""
    assert env.node.session is not None
    async with env.node.session.post(
            env.inbox, data=_LIKE,
            headers={"Content-Type": "application/activity+json",
                     "X-Forwarded-For": "203.0.113.7", **headers}) as response:
        assert response.status < 500, (response.status, await response.text())
