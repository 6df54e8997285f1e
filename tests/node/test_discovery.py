"""WebFinger, host-meta, NodeInfo and actor documents in the shapes Mastodon expects."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from protocol.keys import load_public_pem, multibase_to_public_key
from tests.support.nodes import MutualNode

AP = "application/activity+json"


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MutualNode]:
    """One node for the whole module: these tests only read."""
    node = MutualNode(name="a", root=tmp_path_factory.mktemp("discovery"), session=None)
    node.init()
    node.member("ana")
    node.start_sync()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def node(shared_node: MutualNode, session: aiohttp.ClientSession) -> MutualNode:
    shared_node.session = session
    return shared_node


async def test_webfinger_names_the_actor_like_mastodon(node: MutualNode) -> None:
    url = f"{node.url}/.well-known/webfinger?resource=acct:ana@{node.host}"
    async with node.session.get(url) as response:
        assert response.status == 200
        assert response.content_type == "application/jrd+json"
        jrd = await response.json(content_type=None)
    assert jrd["subject"] == f"acct:ana@{node.host}"
    actor = f"{node.url}/users/ana"
    assert actor in jrd["aliases"]
    selfs = [link for link in jrd["links"] if link["rel"] == "self"]
    assert selfs == [{"rel": "self", "type": AP, "href": actor}]


@pytest.mark.parametrize("resource", ["acct:nobody@{host}", "acct:ana@elsewhere.example"])
async def test_webfinger_unknown_resource_is_404(node: MutualNode, resource: str) -> None:
    url = f"{node.url}/.well-known/webfinger?resource={resource.format(host=node.host)}"
    async with node.session.get(url) as response:
        assert response.status == 404


@pytest.mark.parametrize("query", ["", "?resource=", "?resource=garbage"])
async def test_webfinger_malformed_resource_is_400(node: MutualNode, query: str) -> None:
    async with node.session.get(f"{node.url}/.well-known/webfinger{query}") as response:
        assert response.status == 400
        assert (await response.json())["reason"]


async def test_host_meta_points_at_webfinger(node: MutualNode) -> None:
    async with node.session.get(f"{node.url}/.well-known/host-meta") as response:
        assert response.status == 200
        text = await response.text()
    assert f'template="{node.url}/.well-known/webfinger?resource={{uri}}"' in text


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_nodeinfo_documents(node: MutualNode, version: str) -> None:
    status, links = await node.get(f"{node.url}/.well-known/nodeinfo")
    assert status == 200
    hrefs = {link["rel"].rsplit("/", 1)[-1]: link["href"] for link in links["links"]}
    assert hrefs[version] == f"{node.url}/nodeinfo/{version}"
    status, doc = await node.get(hrefs[version])
    assert status == 200
    assert doc["version"] == version
    assert doc["software"]["name"] == "mutual"
    assert doc["protocols"] == ["activitypub"]
    assert doc["services"] == {"inbound": [], "outbound": []}
    assert doc["usage"]["users"]["total"] == 1  # ana; the instance actor is not a user
    assert isinstance(doc["openRegistrations"], bool)
    assert isinstance(doc["metadata"], dict)


async def test_actor_document_has_what_mastodon_needs(node: MutualNode) -> None:
    actor_id = f"{node.url}/users/ana"
    status, actor = await node.get(actor_id)
    assert status == 200
    assert actor["id"] == actor_id
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "ana"
    key = actor["publicKey"]
    assert key["id"] == f"{actor_id}#main-key"
    assert key["owner"] == actor_id
    assert isinstance(load_public_pem(key["publicKeyPem"]), RSAPublicKey)
    assert actor["endpoints"]["sharedInbox"] == f"{node.url}/inbox"
    multikey = actor["assertionMethod"][0]
    assert multikey["type"] == "Multikey"
    assert multikey["controller"] == actor_id
    multibase_to_public_key(multikey["publicKeyMultibase"])
    for collection in ("outbox", "followers", "following", "liked"):
        status, doc = await node.get(actor[collection])
        assert status == 200, collection
        assert doc["type"] == "OrderedCollection"
        assert doc["totalItems"] == 0


async def test_instance_actor_is_an_application(node: MutualNode) -> None:
    status, actor = await node.get(f"{node.url}/actor")
    assert status == 200
    assert actor["type"] == "Application"
    assert actor["publicKey"]["owner"] == actor["id"]


async def test_browsers_get_a_page_and_apps_get_json(node: MutualNode) -> None:
    url = f"{node.url}/users/ana"
    async with node.session.get(url, headers={"Accept": "text/html"}) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert f"@ana@{node.host}" in await response.text()
    ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    async with node.session.get(url, headers={"Accept": ld}) as response:
        assert response.content_type == AP


async def test_unknown_actor_is_404(node: MutualNode) -> None:
    status, _ = await node.get(f"{node.url}/users/nobody")
    assert status == 404
