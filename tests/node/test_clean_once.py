"""The inbox sanitises a Create's object once and reuses it in the activity's document.

``clean_document`` with a memo (node/inbox/posts.py) must give exactly what cleaning
each document on its own gives, call the sanitiser once per HTML field, and leave the
shared copy alone when the object's own row trims it (``_clean``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from node.inbox import posts
from node.inbox.base import CleanMemo
from protocol.vocab import ObjectValue, parse_activity

ACTOR = "https://peer.example/users/bo"


def create(note: dict[str, Any]) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{ACTOR}/a/1",
            "type": "Create", "actor": ACTOR, "to": ["https://home.example/users/ana"],
            "summary": "<b>activity</b><script>x()</script>", "object": note}


NOTES = [
    {"id": f"{ACTOR}/n/1", "type": "Note", "attributedTo": ACTOR,
     "content": '<p>hi <a href="javascript:x()">there</a></p><script>alert(1)</script>',
     "contentMap": {"en": "<p>hi<iframe></iframe></p>", "fr": 3},
     "summary": "<h1>cw</h1>", "name": "n" * 900, "source": {"content": "<b>md</b>"},
     "tag": [{"type": "Mention", "href": "https://home.example/users/ana",
              "content": "<script>t</script>"}],
     "attachment": [{"type": "Document", "name": "<i>alt</i>", "summary": ["not text"]}]},
    {"id": f"{ACTOR}/n/2", "type": "Note", "attributedTo": ACTOR, "content": None,
     "summary": 7, "to": [], "replies": {"type": "Collection", "items": [[{"content": "<b>x"}]]}},
]


@pytest.mark.parametrize("note", NOTES, ids=["html-everywhere", "odd-shapes"])
def test_the_object_cleaned_once_gives_both_documents_as_cleaning_each_did(
        note: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    raw = create(note)
    activity = parse_activity(copy.deepcopy(raw))
    obj = activity.object
    assert isinstance(obj, ObjectValue)
    alone_object = json.dumps(posts._clean(obj, None))
    alone_activity = json.dumps(posts.clean_document(activity.raw))

    calls: list[str] = []
    sanitize = posts.sanitize
    monkeypatch.setattr(posts, "sanitize", lambda html: calls.append(html) or sanitize(html))
    memo: CleanMemo = {}
    shared_object = json.dumps(posts._clean(obj, memo))  # the handler, first
    shared_activity = json.dumps(posts.clean_document(activity.raw, memo))  # then ingest

    assert shared_object == alone_object
    assert shared_activity == alone_activity
    assert len(calls) == len(set(map(id, calls)))  # no HTML text sanitised twice
    assert activity.raw == raw  # what was received is left as it was
