"""Remote HTML is made safe without breaking Mastodon-shaped posts; local text renders like
Mastodon's."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.html import Rendered, extract_mentions, render_plain, sanitize, to_plain_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jsonld"
TAGS = "https://coop.example/tags/"

ALLOWED: dict[str, set[str]] = {
    tag: {"lang"}
    for tag in ("p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong",
                "u", "i", "em", "ul", "ol", "li", "ruby", "rt", "rp")
}  # fmt: skip
ALLOWED["a"] |= {"href", "class", "translate", "rel", "target"}
ALLOWED["span"] |= {"class", "translate"}
ALLOWED["p"] |= {"class"}
ALLOWED["ol"] |= {"start", "reversed"}
ALLOWED["li"] |= {"value"}
SAFE_SCHEMES = ("http:", "https:", "mailto:", "dat:", "dweb:", "ipfs:", "ipns:", "ssb:",
                "gopher:", "xmpp:", "magnet:", "gemini:")  # fmt: skip


class _Events(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("text", data))


def _events(fragment: str) -> list[tuple[Any, ...]]:
    parser = _Events()
    parser.feed(fragment)
    parser.close()
    return parser.events


def assert_safe(output: str) -> None:
    """Every element and attribute is on the allow-list and every link is inert."""
    for event in _events(output):
        if event[0] != "start":
            continue
        _, tag, attrs = event
        assert tag in ALLOWED, f"element <{tag}> survived: {output!r}"
        for name, value in attrs:
            assert name in ALLOWED[tag], f"attribute {name} on <{tag}> survived: {output!r}"
            if name == "href":
                assert (value or "").lower().startswith(SAFE_SCHEMES), output
        if tag == "a":
            assert ("rel", "nofollow noopener noreferrer") in attrs
            assert ("target", "_blank") in attrs


def _shape(fragment: str) -> list[tuple[Any, ...]]:
    """Events with the link attributes sanitize() forces (and empty classes) left out."""
    shaped: list[tuple[Any, ...]] = []
    for event in _events(fragment):
        if event[0] == "start":
            attrs = sorted(
                (k, v)
                for k, v in event[2]
                if k not in ("rel", "target") and (k, v) != ("class", "")
            )
            shaped.append(("start", event[1], attrs))
        else:
            shaped.append(event)
    return shaped


DANGER_MARKERS = ("<script", "<style", "<iframe", "<svg", "<img", "javascript:", "data:",
                  "vbscript:", "onerror", "onload", "onclick", "style=")  # fmt: skip
XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="/relative/path">x</a>',
    '<p onclick="alert(1)" style="background:url(javascript:alert(1))">x</p>',
    "<style>@import 'http://evil.example/x.css';</style>",
    '<div style="width: expression(alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<embed src="javascript:alert(1)">',
    "<body onload=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<link rel=stylesheet href=javascript:alert(1)>",
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<template><img src=x onerror=alert(1)></template>",
    "<textarea><script>alert(1)</script></textarea>",
    '<a href="https://ok.example" target="_self" rel="opener">x</a>',
    '<span class="h-card" data-x="1" id="evil" onfocus="alert(1)" tabindex="1">x</span>',
    '<p><a href="https://ok.example"><svg><a href="javascript:alert(1)">y</a></svg></a></p>',
    '<a href="https://x.example/?q=<script>">x</a>',
]


@pytest.mark.parametrize("payload", XSS)
def test_xss_payload_is_neutralised(payload: str) -> None:
    output = sanitize(payload)
    assert_safe(output)
    lowered = output.lower()
    for marker in DANGER_MARKERS:
        assert marker not in lowered, (marker, output)


@pytest.mark.parametrize(
    "payload",
    ["<script>alert(1)</script>", "<style>p{color:red}</style>", "<svg><text>hi</text></svg>"],
)
def test_script_style_and_svg_are_removed_with_their_content(payload: str) -> None:
    assert sanitize(payload) == ""


MARKUP_PIECES = [
    "<a href='javascript:x'>", "<script>", "</script>", "<svg onload=x>", "<p ", "onerror=",
    "<img src=x ", ">", "<", '"', "'", "&#", "<style>", "</a>", "<iframe>",
    "<span class='h-card x'>", "<h1>", "</h1>", '<h2 lang="x>y">', '<a href="https://e">',
    "data:", "<!--", "-->", "<math>", "<noscript>", "text",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(MARKUP_PIECES) | st.text(max_size=8), max_size=25).map("".join))
def test_anything_sanitised_contains_only_allowed_markup(fragment: str) -> None:
    assert_safe(sanitize(fragment))


def _content(name: str) -> str:
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    items = document.get("orderedItems") or [document.get("object", document)]
    content: str = items[0]["content"]
    return content


@pytest.mark.parametrize(
    "name",
    [
        "mastodon/lemmyassets_create_note.json",  # h-card mention
        "mastodon/lemmyassets_collection_featured.json",  # hashtags, shortened link, <p>
        "gotosocial/note_with_hashtag_emoji.json",
        "akkoma/aster_create_note_public.json",
    ],
)
def test_mastodon_shaped_html_survives(name: str) -> None:
    original = _content(name)
    cleaned = sanitize(original)
    assert_safe(cleaned)
    expected = [
        ("start", e[1], [(k, v) for k, v in e[2] if k not in ("data-user",)]) if e[0] == "start"
        else e
        for e in _shape(original)
    ]  # fmt: skip
    assert _shape(cleaned) == expected


def test_mention_hashtag_paragraph_and_break_are_kept() -> None:
    fragment = (
        '<p><span class="h-card" translate="no"><a href="https://b.example/@bo" '
        'class="u-url mention">@<span>bo</span></a></span> hi<br>'
        '<a href="https://b.example/tags/garden" class="mention hashtag" rel="tag">'
        "#<span>garden</span></a></p>"
    )
    cleaned = sanitize(fragment)
    assert '<span class="h-card" translate="no">' in cleaned
    assert 'class="u-url mention"' in cleaned
    assert 'class="mention hashtag"' in cleaned
    assert "<br>" in cleaned
    assert cleaned.startswith("<p>")
    assert cleaned.endswith("</p>")


def test_headings_become_strong_paragraphs_as_on_mastodon() -> None:
    assert sanitize('<h2 id="x">Title</h2>text') == "<p><strong>Title</strong></p>text"
    assert sanitize('<h1 lang="de" class="p-name">T</h1>') == "<p><strong>T</strong></p>"


def test_unknown_classes_are_dropped_and_microformats_kept() -> None:
    cleaned = sanitize('<span class="h-card evil p-name ellipsis">x</span><span class="a">y</span>')
    assert cleaned == '<span class="h-card p-name ellipsis">x</span><span>y</span>'


def test_mailto_and_lang_survive() -> None:
    cleaned = sanitize('<p lang="de"><a href="mailto:ana@coop.example">mail</a></p>')
    assert 'href="mailto:ana@coop.example"' in cleaned
    assert 'lang="de"' in cleaned


def test_to_plain_text_keeps_breaks_and_decodes_entities() -> None:
    fragment = "<p>Fish &amp; chips<br>tonight</p><p>5 &lt; 6</p><script>x()</script>"
    assert to_plain_text(fragment) == "Fish & chips\ntonight\n\n5 < 6"


def test_to_plain_text_of_a_mastodon_mention() -> None:
    assert to_plain_text(_content("mastodon/lemmyassets_create_note.json")).startswith(
        "@retiolus i have never"
    )


RESOLVER = {
    "ana": "https://coop.example/users/ana",
    "bo@b.example:8081": "https://b.example:8081/users/bo",
}


def test_render_plain_paragraphs_breaks_and_escaping() -> None:
    rendered = render_plain("one <b>&\ntwo\n\n\nthree", mention_resolver=None, tag_base_url=TAGS)
    assert rendered == Rendered(
        html="<p>one &lt;b&gt;&amp;<br>two</p><p>three</p>", mentions=(), tags=()
    )


def test_render_plain_links_mentions_with_ports_and_leaves_unknown_as_text() -> None:
    rendered = render_plain(
        "hi @Ana, @bo@B.example:8081 and @zed@nowhere.example.",
        mention_resolver=RESOLVER,
        tag_base_url=TAGS,
    )
    assert rendered.mentions == ("ana", "bo@b.example:8081", "zed@nowhere.example")
    assert (
        '<span class="h-card" translate="no"><a href="https://coop.example/users/ana" '
        'class="u-url mention">@<span>Ana</span></a></span>'
    ) in rendered.html
    assert 'href="https://b.example:8081/users/bo" class="u-url mention">@<span>bo</span>' in (
        rendered.html
    )
    assert "@zed@nowhere.example.</p>" in rendered.html


def test_render_plain_hashtags() -> None:
    text = "#Garden and #garden, #1 #café"
    rendered = render_plain(text, mention_resolver={}, tag_base_url=TAGS)
    assert rendered.tags == ("garden", "café")
    assert (
        '<a href="https://coop.example/tags/garden" class="mention hashtag" rel="tag">'
        "#<span>Garden</span></a>"
    ) in rendered.html
    assert "#1" in rendered.html
    assert 'tags/1"' not in rendered.html
    assert 'href="https://coop.example/tags/caf%C3%A9"' in rendered.html


def test_render_plain_autolinks_urls_without_reading_mentions_or_tags_inside() -> None:
    text = "see https://m.example/@ana/1#frag?x=1&y=2, (https://x.example/a_(b)) ok."
    rendered = render_plain(text, mention_resolver=RESOLVER, tag_base_url=TAGS)
    assert rendered.mentions == ()
    assert rendered.tags == ()
    assert 'href="https://m.example/@ana/1#frag?x=1&amp;y=2"' in rendered.html
    assert 'href="https://x.example/a_(b)"' in rendered.html
    assert '<span class="invisible">https://</span>' in rendered.html


def test_email_address_is_not_a_mention() -> None:
    assert extract_mentions("write to ana@coop.example") == ()


def test_extract_mentions_matches_what_render_reports() -> None:
    text = "@ana @Ana @bo@b.example:8081 mail@x.example https://x.example/@c"
    rendered = render_plain(text, mention_resolver=None, tag_base_url=TAGS)
    assert extract_mentions(text) == rendered.mentions == ("ana", "bo@b.example:8081")


def test_rendered_html_passes_our_own_sanitiser() -> None:
    rendered = render_plain(
        "@ana #tag https://example.com <i>x</i>", mention_resolver=RESOLVER, tag_base_url=TAGS
    )
    cleaned = sanitize(rendered.html)
    assert_safe(cleaned)
    assert _shape(cleaned) == _shape(rendered.html)


def test_empty_text_renders_nothing() -> None:
    assert render_plain("  \n ", mention_resolver=None, tag_base_url=TAGS).html == ""


def test_sanitised_links_are_identical_in_every_process() -> None:
    """nh3 once added rel and target in a per-process random order: a stored post then
    differed from the same post sanitised elsewhere (regression)."""
    import subprocess
    import sys

    code = ("from protocol.html import sanitize; print(sanitize("
            "'<a href=\"https://x.example/\" rel=\"tag\">x</a>'))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, timeout=60).stdout for _ in range(6)}
    assert len(outputs) == 1, outputs
