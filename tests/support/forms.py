"""Reading HTML forms the way a browser submits them, for driving the sign-in page.

A test signs in as a person would: load the page, fill the visible fields, keep the
hidden ones as served, press a button (whose name and value are submitted too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["Form", "find_form", "parse_forms"]


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def submit(self, *, button: str | None = None, **values: str) -> dict[str, str]:
        """The body a browser sends: the fields, ``values`` typed in, and the pressed
        button's name and value (the one whose value is ``button``, else the first)."""
        data = {**self.fields, **values}
        pressed = [b for b in self.buttons if button is None or b[1] == button]
        assert pressed, f"no button {button!r} in {self.buttons}"
        if pressed[0][0]:
            data[pressed[0][0]] = pressed[0][1]
        return data


class _Parser(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=urljoin(self.base, a.get("action") or self.base),
                                   method=(a.get("method") or "get").upper()))
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                self.forms[-1].buttons.append((a.get("name", ""), a.get("value", "")))
            elif a.get("name"):
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self.forms[-1].buttons.append((a.get("name", ""), a.get("value", "")))


def parse_forms(html: str, base: str) -> list[Form]:
    parser = _Parser(base)
    parser.feed(html)
    return parser.forms


def find_form(html: str, base: str) -> Form:
    forms = parse_forms(html, base)
    assert len(forms) == 1, f"expected one form, found {len(forms)} in {html[:500]}"
    return forms[0]
