"""Readable HTML pages for people who open an actor or a post in a browser."""

from __future__ import annotations

import html
from typing import Any

from node.context import Node
from protocol.html import sanitize
from storage.records import AccountRecord

__all__ = ["actor_page", "object_page", "page"]


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
        "padding:0 1rem;line-height:1.5}article{border-top:1px solid #ddd;padding:1rem 0}"
        "small{color:#666}</style></head>"
        f"<body>{body}</body></html>"
    )


def actor_page(node: Node, account: AccountRecord) -> str:
    handle = f"@{account.username}@{node.urls.host}"
    name = account.display_name or account.username
    return page(name, (
        f"<h1>{html.escape(name)}</h1><p><small>{html.escape(handle)}</small></p>"
        f"<p>{sanitize(account.summary)}</p>"
        "<p>Follow this account from any fediverse app by searching for "
        f"<code>{html.escape(handle)}</code>.</p>"
    ))


def object_page(node: Node, doc: dict[str, Any]) -> str:
    author = html.escape(str(doc.get("attributedTo", "")))
    summary = doc.get("summary")
    warning = f"<p><strong>{html.escape(str(summary))}</strong></p>" if summary else ""
    content = sanitize(str(doc.get("content", "")))
    published = html.escape(str(doc.get("published", "")))
    likes = doc.get("likes", {}).get("totalItems", 0)
    shares = doc.get("shares", {}).get("totalItems", 0)
    return page(f"Post by {author}", (
        f"<article><p><small><a href='{author}'>{author}</a> · {published}</small></p>"
        f"{warning}{content}<p><small>{likes} likes · {shares} boosts</small></p></article>"
    ))
