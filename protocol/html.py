"""HTML in and out: sanitising remote HTML, rendering local plain text, and back to text.

Remote ``content``/``summary``/``name`` is untrusted HTML (AS2 Core §4.7 says ``content``
is HTML by default). :func:`sanitize` keeps what Mastodon's ``MASTODON_STRICT`` sanitizer
keeps (``lib/sanitize_ext/sanitize_config.rb``), so a post looks the same here as on
Mastodon, and nothing that can run script survives.

:func:`render_plain` turns what a member typed into the HTML Mastodon's ``TextFormatter``
produces: paragraphs, line breaks, links, ``h-card`` mentions and hashtags, so Mastodon and
its apps show our posts with working mentions and tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from typing import Final
from urllib.parse import quote

import nh3

__all__ = [
    "Rendered",
    "extract_mentions",
    "is_hashtag",
    "render_plain",
    "sanitize",
    "to_plain_text",
]

# --- sanitising remote HTML -----------------------------------------------------------

_ALLOWED_TAGS: Final = frozenset(
    {"p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong", "u",
     "i", "em", "ul", "ol", "li", "ruby", "rt", "rp"}
)  # fmt: skip
_HEADINGS: Final = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = {
    "*": frozenset({"lang"}),
    "a": frozenset({"href", "class", "translate"}),
    "span": frozenset({"class", "translate"}),
    "ol": frozenset({"start", "reversed"}),
    "li": frozenset({"value"}),
    "p": frozenset({"class"}),
}
# Removed together with everything inside them, not just unwrapped.
_DROP_WITH_CONTENT: Final = frozenset(
    {"script", "style", "iframe", "noscript", "template", "object", "svg", "math", "textarea"}
)
# Mastodon's LINK_PROTOCOLS plus mailto; none of them can carry script.
_LINK_SCHEMES: Final = frozenset(
    {"http", "https", "mailto", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "xmpp",
     "magnet", "gemini"}
)  # fmt: skip
_LINK_REL: Final = "nofollow noopener noreferrer"
_SCHEME: Final = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore ASCII tab/newline anywhere in a URL and leading C0 controls/space.
_URL_IGNORED: Final = re.compile(r"[\x00-\x20]")
_HEADING_TAG: Final = re.compile(r"<(/?)h[1-6]>")
# Class names Mastodon keeps: microformats, mention/hashtag, link-shortening helpers.
_ALLOWED_CLASS: Final = re.compile(
    r"^(?:(?:h|p|u|dt|e)-[\w-]+|mention|hashtag|ellipsis|invisible|quote-inline)$"
)


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    """nh3 callback. Must never raise: nh3 reports callback errors as unraisable."""
    if element in _HEADINGS:
        return None  # keeps headings bare, so sanitize() can rewrite them exactly
    if attribute == "href":
        scheme = _SCHEME.match(_URL_IGNORED.sub("", value))
        # Relative links in remote HTML point at the sender's pages, not ours.
        if scheme is None or scheme.group(1).lower() not in _LINK_SCHEMES:
            return None
        return value
    if attribute == "class":
        kept = [name for name in value.split() if _ALLOWED_CLASS.match(name)]
        return " ".join(kept) or None
    if attribute == "translate":
        return value if value == "no" else None
    return value


def _cleaner(tags: frozenset[str]) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(tags),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        strip_comments=True,
        # One attribute per mechanism: nh3 keeps several set values in a hash map whose
        # order differs between processes, which made the output unstable.
        link_rel=_LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(_LINK_SCHEMES),
    )


# Built once: ``nh3.clean`` builds its sanitizer on every call, which cost ~12 µs of a
# ~14 µs sanitize of a 1 KB post (the inbox sanitises every post it stores).
_FIRST_PASS: Final = _cleaner(_ALLOWED_TAGS | _HEADINGS)
_SECOND_PASS: Final = _cleaner(_ALLOWED_TAGS)


def sanitize(html: str) -> str:
    """Sanitise remote HTML to Mastodon's strict subset.

    Allowed: the elements of ``MASTODON_STRICT``; ``lang`` anywhere; ``href``/``class``
    on links; ``class`` on ``span``/``p`` (only microformats, ``mention``, ``hashtag``,
    ``ellipsis``, ``invisible``). Every link gets ``rel="nofollow noopener noreferrer"``
    and ``target="_blank"``; a link with a scheme outside the allow-list or a relative
    link loses its ``href``. Headings become ``<p><strong>`` as on Mastodon. Script,
    style, iframe, svg and similar are removed with their content; event handlers and
    every other attribute are dropped.
    """
    if not html:
        return ""
    cleaned = _FIRST_PASS.clean(html)
    if _HEADING_TAG.search(cleaned):
        # The first pass left headings bare (no attributes), so the tags match exactly;
        # the second pass re-normalises the nesting and guarantees the final subset.
        cleaned = _HEADING_TAG.sub(
            lambda m: "</strong></p>" if m.group(1) else "<p><strong>", cleaned
        )
        cleaned = _SECOND_PASS.clean(cleaned)
    return cleaned


# --- back to text ---------------------------------------------------------------------


class _TextCollector(HTMLParser):
    _BLOCKS: Final = frozenset({"p", "blockquote", "pre", "ul", "ol", "li", *_HEADINGS, "div"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_BLANK_LINES: Final = re.compile(r"[ \t]*\n[ \t]*\n\s*")


def to_plain_text(html: str) -> str:
    """Strip tags and decode entities, keeping paragraphs and line breaks as newlines.

    For summaries, notifications and search; never re-insert the result into HTML
    without escaping it.
    """
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    text = "".join(collector.parts)
    return _BLANK_LINES.sub("\n\n", text).strip()


# --- rendering local plain text -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    """A local post rendered to HTML, with what it mentions and tags.

    ``mentions`` are accts as written, lowercase, without the leading ``@``
    (``"ana"``, ``"bo@b.example:8081"``); ``tags`` are lowercase names without ``#``.
    Both keep first-seen order, without duplicates.
    """

    html: str
    mentions: tuple[str, ...]
    tags: tuple[str, ...]


# Close to Mastodon's Account::MENTION_RE: not after a word character, '/', '@' or '.'
# (e-mail addresses, URL paths); a username may contain '.' and '-' inside; the host may
# carry a port, which is how nodes on loopback are told apart.
_LABEL: Final = r"[^\W_](?:[\w-]*[^\W_])?"
_MENTION: Final = re.compile(
    r"(?<![\w/@.])@([a-z0-9_](?:[a-z0-9_.\-]*[a-z0-9_])?)"
    rf"(?:@({_LABEL}(?:\.{_LABEL})*(?::\d{{1,5}})?))?",
    re.IGNORECASE,
)
# Mastodon's Tag::HASHTAG_RE in short: not after '=', '/', ')' or a word character; at
# least one letter, so "#1" stays text.
_HASHTAG: Final = re.compile(r"(?<![=/)\w&])#(\w*[^\W\d_]\w*)")
_HASHTAG_NAME: Final = re.compile(r"\w*[^\W\d_]\w*")


def is_hashtag(name: str) -> bool:
    """Whether ``name`` (without '#') is a hashtag as ours are written: word characters
    with at least one letter. A remote tag named otherwise ("<script>", "a b") is not
    kept for tag timelines nor shown as a tag, as Mastodon drops what does not match
    its Tag::HASHTAG_NAME_RE.

    >>> is_hashtag("Fediverse2025"), is_hashtag("2025"), is_hashtag("<b>x</b>")
    (True, False, False)
    """
    return _HASHTAG_NAME.fullmatch(name) is not None
_URL: Final = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,:;!?'\""
_DISPLAY_LIMIT: Final = 30
_PARAGRAPH_BREAK: Final = re.compile(r"\n[ \t]*\n\s*")


def _trim_url(candidate: str) -> str:
    """Drop sentence punctuation and an unbalanced closing parenthesis from a URL."""
    while candidate:
        last = candidate[-1]
        if last in _URL_TRAILING or (last == ")" and candidate.count("(") < candidate.count(")")):
            candidate = candidate[:-1]
        else:
            break
    return candidate


def _split_urls(text: str) -> list[tuple[bool, str]]:
    """Split into (is_url, piece) so mentions and tags are never looked for inside URLs."""
    pieces: list[tuple[bool, str]] = []
    position = 0
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        if "://" not in url or url.endswith("://"):
            continue
        pieces.append((False, text[position : match.start()]))
        pieces.append((True, url))
        position = match.start() + len(url)
    pieces.append((False, text[position:]))
    return pieces


def _acct(match: re.Match[str]) -> str:
    name, host = match.group(1), match.group(2)
    return (f"{name}@{host}" if host else name).lower()


def extract_mentions(text: str) -> tuple[str, ...]:
    """The accts ``text`` mentions, as :class:`Rendered` reports them.

    Call it first, resolve each acct (WebFinger for remote ones), then pass the result
    to :func:`render_plain` as ``mention_resolver``.
    """
    found: dict[str, None] = {}
    for is_url, piece in _split_urls(text):
        if not is_url:
            for match in _MENTION.finditer(piece):
                found.setdefault(_acct(match), None)
    return tuple(found)


def _link_url(url: str) -> str:
    # Mastodon's shortened display: scheme hidden, first 30 characters shown with an
    # ellipsis, the rest kept in an invisible span so copy-paste gives the whole URL.
    scheme, _, rest = url.partition("://")
    prefix = f"{scheme}://"
    if rest.lower().startswith("www."):
        prefix, rest = prefix + rest[:4], rest[4:]
    shown, hidden = rest[:_DISPLAY_LIMIT], rest[_DISPLAY_LIMIT:]
    return (
        f'<a href="{escape(url)}" target="_blank" rel="{_LINK_REL}" translate="no">'
        f'<span class="invisible">{escape(prefix)}</span>'
        f'<span class="{"ellipsis" if hidden else ""}">{escape(shown)}</span>'
        f'<span class="invisible">{escape(hidden)}</span></a>'
    )


class _Renderer:
    def __init__(self, resolver: Mapping[str, str], tag_base_url: str) -> None:
        self.resolver = resolver
        self.tag_base_url = tag_base_url
        self.mentions: dict[str, None] = {}
        self.tags: dict[str, None] = {}

    def text(self, piece: str) -> str:
        out: list[str] = []
        position = 0
        tokens = sorted(
            [*_MENTION.finditer(piece), *_HASHTAG.finditer(piece)], key=lambda m: m.start()
        )
        for match in tokens:
            if match.start() < position:
                continue  # overlaps a token already rendered
            out.append(escape(piece[position : match.start()]))
            out.append(self._mention(match) if match.re is _MENTION else self._tag(match))
            position = match.end()
        out.append(escape(piece[position:]))
        return "".join(out)

    def _mention(self, match: re.Match[str]) -> str:
        acct = _acct(match)
        self.mentions.setdefault(acct, None)
        href = self.resolver.get(acct)
        if href is None:
            return escape(match.group(0))
        return (
            f'<span class="h-card" translate="no"><a href="{escape(href)}" '
            f'class="u-url mention">@<span>{escape(match.group(1))}</span></a></span>'
        )

    def _tag(self, match: re.Match[str]) -> str:
        name = match.group(1)
        self.tags.setdefault(name.lower(), None)
        href = self.tag_base_url + quote(name.lower(), safe="")
        return (
            f'<a href="{escape(href)}" class="mention hashtag" rel="tag">'
            f"#<span>{escape(name)}</span></a>"
        )

    def line(self, line: str) -> str:
        return "".join(
            _link_url(piece) if is_url else self.text(piece) for is_url, piece in _split_urls(line)
        )


def render_plain(
    text: str, *, mention_resolver: Mapping[str, str] | None, tag_base_url: str
) -> Rendered:
    """Render a member's plain-text post as Mastodon would.

    HTML in ``text`` is escaped; blank lines separate ``<p>`` paragraphs and single
    newlines become ``<br>``; http(s) URLs become links; ``@name`` / ``@name@host[:port]``
    become ``h-card`` mention links when ``mention_resolver`` (acct -> actor URL, keys as
    :func:`extract_mentions` returns them) knows them, and stay text otherwise;
    ``#tag`` links to ``tag_base_url`` + the lowercase tag.
    """
    renderer = _Renderer(mention_resolver or {}, tag_base_url)
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(normalised) if p.strip()]
    rendered = "".join(
        "<p>" + "<br>".join(renderer.line(line) for line in paragraph.split("\n")) + "</p>"
        for paragraph in paragraphs
    )
    return Rendered(html=rendered, mentions=tuple(renderer.mentions), tags=tuple(renderer.tags))
