"""Mastodon.py, unmodified, against real Mutual nodes (issue 4, acceptance 1 and 2).

Mastodon.py runs in ``version_check_mode="created"``: each call is refused unless the
version the node reports is at least the one the endpoint appeared in, so these tests
also prove that the node's version string enables the features we serve.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mastodon import Mastodon, StreamListener
from mastodon.errors import (
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)

from tests.support.clients import (
    SCOPES,
    code_in,
    mastodon_app,
    mastodon_client,
    running_nodes,
    sign_in_on_page,
    wait_for,
)
from tests.support.nodes import MutualNode
from tests.support.oauth import PASSWORD

pytestmark = pytest.mark.federation

CALLBACK = "https://bot.example/oauth/callback"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MutualNode]]:
    members = {"a": [("ana", "ana@coop.example"), ("cy", "cy@coop.example"),
                     ("dee", "dee@coop.example")],
               "b": [("bo", "bo@club.example"), ("eve", "eve@club.example")]}
    with running_nodes(tmp_path_factory.mktemp("mastodon_py"), "a", "b",
                       members=members) as started:
        yield started


@pytest.fixture(scope="module")
def ana(nodes: dict[str, MutualNode]) -> Mastodon:
    return mastodon_client(nodes["a"], "ana@coop.example", PASSWORD)


def test_registers_an_app_and_signs_in_with_the_password_grant(
        nodes: dict[str, MutualNode]) -> None:
    for login in ("ana@coop.example", "ana"):
        client = mastodon_client(nodes["a"], login, PASSWORD)
        app = client.app_verify_credentials()
        assert app.name == "mutual tests"
        assert set(app.scopes) == set(SCOPES)
    with pytest.raises(MastodonIllegalArgumentError):
        mastodon_app(nodes["a"]).log_in("ana", "wrong password", allow_http=True)


def test_signs_in_through_the_authorization_page_with_a_redirect(
        nodes: dict[str, MutualNode]) -> None:
    client = mastodon_app(nodes["a"], redirect_uris=[CALLBACK, "urn:ietf:wg:oauth:2.0:oob"])
    url = client.auth_request_url(redirect_uris=CALLBACK, scopes=SCOPES, state="s3cret",
                                  allow_http=True)
    landed = sign_in_on_page(url, "cy@coop.example", PASSWORD)
    assert landed.startswith(CALLBACK + "?")
    assert "state=s3cret" in landed
    client.log_in(code=code_in(landed), redirect_uri=CALLBACK, scopes=SCOPES, allow_http=True)
    assert client.app_verify_credentials().name == "mutual tests"


def test_signs_in_through_the_authorization_page_out_of_band(
        nodes: dict[str, MutualNode]) -> None:
    client = mastodon_app(nodes["b"])
    url = client.auth_request_url(scopes=SCOPES, allow_http=True)
    landed = sign_in_on_page(url, "bo", PASSWORD)
    assert "/oauth/authorize/native?code=" in landed
    client.log_in(code=code_in(landed), scopes=SCOPES, allow_http=True)
    assert client.app_verify_credentials().scopes


def test_node_version_enables_every_feature_we_serve(ana: Mastodon) -> None:
    assert ana.retrieve_mastodon_version() == "4.3.0"
    assert ana.mastodon_api_version == 2
    # The versions Mastodon.py requires for polls, search v2, lookup, instance v2.
    for needed in ("2.8.0", "2.4.3", "3.4.0", "4.0.0"):
        assert ana.verify_minimum_version(needed, cached=True), needed
    info = ana.instance()  # v2, through /api/v2/instance/ (trailing slash)
    assert info.version.startswith("4.3.0 (compatible; Mutual ")
    assert info.configuration.polls.max_options == 20
    assert info.configuration.statuses.max_characters == 5000
    assert info.configuration.urls.streaming.startswith("ws://127.0.0.1:")
    v1 = ana.instance_v1()
    assert v1.uri == ana.api_base_url.removeprefix("http://")
    assert v1.urls.streaming_api == info.configuration.urls.streaming
    assert ana.instance_rules() == []
    assert isinstance(ana.instance_peers(), list)
    assert ana.oauth_authorization_server_info().grant_types_supported
    # Each gated call goes through: lookup (3.4), search v2 (2.4.3).
    me = ana.account_lookup("ana")
    assert me.acct == "ana"
    assert [a.id for a in ana.search_v2("ana", result_type="accounts").accounts] == [me.id]


def test_revoked_token_is_refused(nodes: dict[str, MutualNode]) -> None:
    client = mastodon_client(nodes["a"], "cy", PASSWORD)
    token = client.access_token
    client.revoke_access_token(allow_http=True)
    stale = Mastodon(access_token=token, api_base_url=nodes["a"].url)
    with pytest.raises(MastodonUnauthorizedError):
        stale.app_verify_credentials()


def test_scopes_asked_at_sign_in_are_all_granted(tmp_path: Path,
                                                 nodes: dict[str, MutualNode]) -> None:
    client = mastodon_app(nodes["a"])
    token_file = tmp_path / "token.secret"
    client.log_in("ana", PASSWORD, scopes=SCOPES, to_file=str(token_file), allow_http=True)
    again = Mastodon(access_token=str(token_file), version_check_mode="created")
    assert again.app_verify_credentials().name == "mutual tests"


# ---- what members do, across two nodes --------------------------------------------


def test_posts_a_poll_reads_timelines_and_deletes(nodes: dict[str, MutualNode]) -> None:
    ana = mastodon_client(nodes["a"], "ana", PASSWORD)
    poll = ana.make_poll(["Tuesday", "Thursday"], expires_in=3600)
    status = ana.status_post("When shall we meet? #meeting", poll=poll)
    assert [o.title for o in status.poll.options] == ["Tuesday", "Thursday"]
    assert status.poll.expired is False
    for timeline in (ana.timeline_home, ana.timeline_public, ana.timeline_local):
        assert status.id in [s.id for s in timeline()], timeline
    assert status.id in [s.id for s in ana.timeline_hashtag("meeting")]
    assert ana.status(status.id).poll.id == status.poll.id
    ana.status_delete(status.id)
    with pytest.raises(MastodonNotFoundError):
        ana.status(status.id)
    assert status.id not in [s.id for s in ana.timeline_home()]


def _find(client: Mastodon, acct: str) -> Any:
    """An account by ``name@host``, resolved over WebFinger as apps do."""
    found = [a for a in client.search_v2(acct, resolve=True).accounts if a.acct == acct]
    assert found, acct
    return found[0]


def _follow(client: Mastodon, acct: str) -> Any:
    account = _find(client, acct)
    client.account_follow(account.id)
    wait_for(lambda: client.account_relationships(account.id)[0].following)
    return account


def _in_home(client: Mastodon, uri: str) -> Any:
    """The status (or the boost of it) with this ActivityPub id, once it has arrived."""
    def look() -> Any:
        for status in client.timeline_home():
            if uri in (status.uri, status.reblog.uri if status.reblog else None):
                return status
        return None
    return wait_for(look)


def test_follows_across_nodes_by_acct_and_interacts(nodes: dict[str, MutualNode]) -> None:
    a, b = nodes["a"], nodes["b"]
    dee = mastodon_client(a, "dee", PASSWORD)
    bo = mastodon_client(b, "bo", PASSWORD)
    _follow(dee, f"bo@{b.host}")
    wait_for(lambda: [n for n in bo.notifications(types=["follow"])
                      if n.account.acct == f"dee@{a.host}"])
    # What bo posts with Mastodon.py on B shows up in dee's home on A ...
    post = bo.status_post("Seed swap on Saturday")
    seen = _in_home(dee, post.uri)
    assert seen.account.acct == f"bo@{b.host}"
    assert "Seed swap" in seen.content
    # ... and dee's favourite, boost and mention reach bo as notifications.
    dee.status_favourite(seen.id)
    dee.status_reblog(seen.id)
    dee.status_post(f"@bo@{b.host} count me in", in_reply_to_id=seen.id)

    def kinds() -> set[str]:
        return {n.type for n in bo.notifications() if n.account.acct == f"dee@{a.host}"}

    assert wait_for(lambda: {"follow", "favourite", "reblog", "mention"} <= kinds()
                    and kinds())
    counted = wait_for(lambda: bo.status(post.id).favourites_count == 1 and bo.status(post.id))
    assert counted.reblogs_count == 1
    # And the other way round: a post made with Mastodon.py on A arrives on B.
    _follow(bo, f"dee@{a.host}")
    mine = dee.status_post("Greetings from A")
    assert _in_home(bo, mine.uri).account.acct == f"dee@{a.host}"


def test_votes_in_a_poll_on_another_node_and_sees_it_close(
        nodes: dict[str, MutualNode]) -> None:
    a, b = nodes["a"], nodes["b"]
    cy = mastodon_client(a, "cy", PASSWORD)
    eve = mastodon_client(b, "eve", PASSWORD)
    _follow(cy, f"eve@{b.host}")
    question = eve.status_post("Pizza or soup?",
                               poll=eve.make_poll(["Pizza", "Soup"], expires_in=6))
    seen = _in_home(cy, question.uri)
    voted = cy.poll_vote(seen.poll.id, [1])
    assert voted.voted is True
    assert voted.own_votes == [1]
    tallied = wait_for(lambda: (p := eve.poll(question.poll.id)).votes_count == 1 and p)
    assert [o.votes_count for o in tallied.options] == [0, 1]
    # At its end the poll closes for everyone, and voter and author are told.
    closed = wait_for(lambda: (p := cy.poll(seen.poll.id)).expired and p, within=30)
    assert [o.votes_count for o in closed.options] == [0, 1]
    for client in (cy, eve):
        wait_for(lambda c=client: [n for n in c.notifications(types=["poll"])
                                   if n.status.uri == question.uri], within=30)


def test_votes_in_a_group_proposal_from_another_node_and_sees_the_result(
        nodes: dict[str, MutualNode]) -> None:
    a, b = nodes["a"], nodes["b"]
    a.cli("group", "create", "council", "--owner", "ana")
    ana = mastodon_client(a, "ana", PASSWORD)
    eve = mastodon_client(b, "eve", PASSWORD)
    # Joining is following the group: a stock app sees an account with group: true.
    group = _follow(eve, f"council@{a.host}")
    assert group.group is True
    # A proposal is a post addressed to the group (a mention) with a poll.
    draft = ana.status_post(f"@council@{a.host} Buy a shared greenhouse?",
                            poll=ana.make_poll(["Agree", "Disagree"], expires_in=8))
    proposal = _in_home(eve, draft.uri)
    target = proposal.reblog or proposal
    eve.poll_vote(target.poll.id, [0])
    # Closed by the group: the final counts reach eve's node, and eve is told.
    closed = wait_for(lambda: (p := eve.poll(target.poll.id)).expired and p, within=40)
    assert [o.votes_count for o in closed.options] == [1, 0]
    wait_for(lambda: [n for n in eve.notifications(types=["poll"])
                      if n.status.uri == draft.uri], within=30)
    # The group also says so in a post, a reply to the proposal that any app shows.

    def announcement() -> Any:
        return [s for s in eve.timeline_home() if s.account.acct == f"council@{a.host}"
                and s.in_reply_to_id == target.id and "The proposal" in s.content]

    assert "Agree: 1" in wait_for(announcement, within=30)[0].content


class _Heard(StreamListener):
    """Collects what a Mastodon.py stream hears; its thread calls these."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.events: list[tuple[str, Any]] = []

    def handle_heartbeat(self) -> None:
        self.connected.set()  # the node says ":)" once the stream is subscribed

    def on_update(self, status: Any) -> None:
        self.events.append(("update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.append(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        self.events.append(("delete", status_id))

    def first(self, kind: str, found: Any) -> Any:
        return wait_for(lambda: next((p for k, p in list(self.events)
                                      if k == kind and found(p)), None))


def test_streams_the_user_timeline_and_notifications(nodes: dict[str, MutualNode]) -> None:
    a, b = nodes["a"], nodes["b"]
    cy = mastodon_client(a, "cy", PASSWORD)
    eve = mastodon_client(b, "eve", PASSWORD)
    _follow(cy, f"eve@{b.host}")
    heard = _Heard()
    handle = cy.stream_user(heard, run_async=True, timeout=30)
    try:
        assert heard.connected.wait(timeout=20)
        remote = eve.status_post("Streaming from B")
        arrived = heard.first("update", lambda s: s.uri == remote.uri)
        assert arrived.account.acct == f"eve@{b.host}"
        mine = cy.status_post("Streaming from A")
        heard.first("update", lambda s: s.id == mine.id)
        mastodon_client(a, "dee", PASSWORD).status_favourite(mine.id)
        liked = heard.first("notification", lambda n: n.type == "favourite")
        assert liked.status.id == mine.id
        assert liked.account.acct == "dee"
        cy.status_delete(mine.id)
        heard.first("delete", lambda status_id: str(status_id) == str(mine.id))
    finally:
        handle.close()
        handle.join(timeout=10)
    assert not handle.is_alive()
