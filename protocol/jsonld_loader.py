"""The offline JSON-LD document loader: context URLs answered from shipped files.

The loader never touches the network: every context a real server sends that we know of
ships with the package in ``protocol/contexts/`` (package data, listed in
``pyproject.toml``), and an unknown one raises :class:`ContextUnavailable`. This is a
registry of files and of the spellings of their URLs, with no JSON-LD processing of its
own; that is ``protocol.jsonld``, which re-exports the public names here (import them
from there).

Errors::

    ProtocolError
    └── ContextUnavailable      a context URL we do not ship (never fetched)
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from protocol.errors import ProtocolError

__all__ = [
    "AS2_CONTEXT_URL",
    "CONTEXT_FILES",
    "MUTUAL_CONTEXT_SUFFIX",
    "SECURITY_V1_CONTEXT_URL",
    "ContextUnavailable",
    "context_key",
    "document_loader",
    "file_for",
    "load_context_file",
]

AS2_CONTEXT_URL: Final = "https://www.w3.org/ns/activitystreams"
SECURITY_V1_CONTEXT_URL: Final = "https://w3id.org/security/v1"

# Canonical key (https, no trailing '#' or '/') -> file in protocol/contexts/.
# Where each file comes from, and its caveats: protocol/contexts/README.md.
CONTEXT_FILES: Final[Mapping[str, str]] = {
    "https://www.w3.org/ns/activitystreams": "www.w3.org_ns_activitystreams.jsonld",
    "https://w3id.org/security/v1": "w3id.org_security_v1.jsonld",
    "https://w3id.org/security/data-integrity/v1": "w3id.org_security_data-integrity_v1.jsonld",
    "https://w3id.org/security/data-integrity/v2": "w3id.org_security_data-integrity_v2.jsonld",
    "https://w3id.org/security/multikey/v1": "w3id.org_security_multikey_v1.jsonld",
    "https://www.w3.org/ns/did/v1": "www.w3.org_ns_did_v1.jsonld",
    "https://w3id.org/identity/v1": "w3id.org_identity_v1.jsonld",
    "https://purl.archive.org/socialweb/webfinger": "purl.archive.org_socialweb_webfinger.jsonld",
    "https://purl.archive.org/miscellany": "purl.archive.org_miscellany.jsonld",
    "https://w3id.org/fep/5711": "w3id.org_fep_5711.jsonld",
    "https://gotosocial.org/ns": "gotosocial.org_ns.jsonld",
    "https://join-lemmy.org/context.json": "join-lemmy.org_context.json",
    # Mastodon never served this URL (it inlines its toot: terms); the file is Fedify's
    # stand-in for peers such as Bonfire that reference the bare namespace.
    "https://joinmastodon.org/ns": "joinmastodon.org_ns.SYNTHETIC-not-served.jsonld",
}
# Pleroma and Akkoma serve their context per instance, so only the path identifies it.
_LITEPUB_SUFFIX: Final = "/schemas/litepub-0.1.jsonld"
# Every Mutual node serves its decision vocabulary at this path (DESIGN §3).
MUTUAL_CONTEXT_SUFFIX: Final = "/ns/mutual-v1.jsonld"
_MUTUAL_FILE: Final = "mutual-v1.jsonld"
_LITEPUB_FILE: Final = "pleroma_schemas_litepub-0.1.jsonld"


class ContextUnavailable(ProtocolError):
    """A context URL that is not shipped with the package; it is never fetched."""

    reason = "context-unavailable"


def context_key(url: str) -> str | None:
    """Map the http/https, trailing '#'/'/' spellings of a URL to one lookup key."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    rest = rest.rstrip("#/")
    host, slash, path = rest.partition("/")
    return f"https://{host.lower()}{slash}{path}"


def file_for(url: str) -> str | None:
    key = context_key(url)
    if key is None:
        return None
    if key in CONTEXT_FILES:
        return CONTEXT_FILES[key]
    if key.endswith(_LITEPUB_SUFFIX):
        return _LITEPUB_FILE
    if key.endswith(MUTUAL_CONTEXT_SUFFIX):
        return _MUTUAL_FILE
    return None


@functools.cache
def load_context_file(filename: str) -> Mapping[str, Any]:
    text = (resources.files("protocol") / "contexts" / filename).read_text(encoding="utf-8")
    document: Mapping[str, Any] = json.loads(text)
    return document


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that answers from shipped files and never fetches.

    Raises :class:`ContextUnavailable` for any URL not shipped. pyld wraps that in its
    own error; :func:`expand` and :func:`compact_to_as2` unwrap it again.
    """
    del options  # part of pyld's loader signature; nothing in it applies offline
    filename = file_for(url)
    if filename is None:
        raise ContextUnavailable(f"JSON-LD context not available offline: {url}")
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        # pyld rewrites parts of loaded contexts in place; keep the cache pristine.
        "document": copy.deepcopy(dict(load_context_file(filename))),
    }
