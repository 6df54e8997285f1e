"""Shapes real senders use that ``protocol.vocab`` accepts on purpose, and their limits."""

from __future__ import annotations

import pytest

from protocol.errors import MalformedActivity
from protocol.vocab import parse_activity

ADMIN = "https://gts.example/users/admin"
STATUS = f"{ADMIN}/statuses/01F8MH75CBF9JFX4ZAD54N0W0R"


def test_gotosocial_delete_without_id_is_keyed_by_its_object() -> None:
    # As GoToSocial sends it (docs/federation/posts.md, "Post Deletes"): no id.
    activity = parse_activity({"type": "Delete", "actor": ADMIN, "object": STATUS,
                               "to": "https://www.w3.org/ns/activitystreams#Public"})
    assert activity.id == f"{STATUS}#delete"
    assert activity.raw["id"] == activity.id
    assert activity.object_id == STATUS


def test_delete_of_an_embedded_tombstone_without_id_is_keyed_too() -> None:
    activity = parse_activity({"type": "Delete", "actor": ADMIN,
                               "object": {"id": STATUS, "type": "Tombstone"}})
    assert activity.id == f"{STATUS}#delete"


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({"type": "Create", "actor": ADMIN,
                      "object": {"id": STATUS, "type": "Note"}}, id="create"),
        pytest.param({"type": "Follow", "actor": ADMIN, "object": ADMIN}, id="follow"),
        pytest.param({"type": "Delete", "actor": ADMIN}, id="delete-of-nothing"),
        pytest.param({"type": "Delete", "actor": ADMIN, "object": {"type": "Note"}},
                     id="delete-of-an-object-without-id"),
    ],
)
def test_other_activities_without_id_are_refused(doc: dict[str, object]) -> None:
    with pytest.raises(MalformedActivity, match="has no id"):
        parse_activity(doc)


def test_a_delete_id_of_the_wrong_kind_is_still_refused() -> None:
    with pytest.raises(MalformedActivity, match="not an http"):
        parse_activity({"id": "urn:x", "type": "Delete", "actor": ADMIN, "object": STATUS})
