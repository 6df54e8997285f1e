"""The term names the node reads, and whether a sender's ``@context`` changes them.

:func:`protocol.jsonld.normalise` runs on every inbox request, and nearly every document
uses only standard contexts; telling so without pyld is what keeps that path cheap. The
test needs a reference: the terms of AS2, the security v1 terms that are read, and the
extension terms Mastodon inlines (the same ones :func:`standard_context` puts on what
this node sends), each resolved to its IRI (JSON-LD 1.1 §4.1). This module holds that
reference and the check of a context against it; ``protocol.jsonld`` does the
processing. :func:`standard_context` is re-exported by ``protocol.jsonld``; import it
from there.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any, Final

from protocol.jsonld_loader import (
    AS2_CONTEXT_URL,
    CONTEXT_FILES,
    SECURITY_V1_CONTEXT_URL,
    context_key,
    file_for,
    load_context_file,
)

__all__ = ["is_standard", "standard_context", "standard_names", "term_iri"]

# The extension terms Mastodon inlines (app/lib/activitypub/adapter.rb), so that remote
# Mastodon-family software reads our documents, and so that re-compacted documents come
# out with the names every implementation uses ("sensitive", not "as:sensitive").
_MASTODON_TERMS: Final[Mapping[str, Any]] = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "toot": "http://joinmastodon.org/ns#",
    "Emoji": "toot:Emoji",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "votersCount": "toot:votersCount",
    "blurhash": "toot:blurhash",
    "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
}

# Of security v1 only the key terms are read (HTTP Signatures key lookup); its other,
# legacy terms ("EncryptedMessage", "expires", ...) are reused by Mastodon and Streams for
# their own meanings, which must not send every such actor down the slow path.
_SECURITY_TERMS_READ: Final = frozenset({"id", "type", "publicKey", "publicKeyPem", "owner"})
# Mastodon writes schema.org as "http://schema.org#" (sic), PeerTube as "http://schema.org/";
# both mean the same "PropertyValue" / "value" to every consumer.
_SCHEMA_ORG_SPELLINGS: Final = ("http://schema.org/", "https://schema.org/", "https://schema.org#")
# Context keywords that do not change which IRI a term name stands for (JSON-LD 1.1 §9.15).
_NEUTRAL_KEYWORDS: Final = frozenset({"@language", "@direction", "@version", "@protected"})


def standard_context() -> list[Any]:
    """The ``@context`` this node puts on the documents it sends.

    AS2 plus security v1 (for ``publicKey``) plus Mastodon's inline extension terms: the
    shape Mastodon itself sends, which every implementation reads. A fresh list each call,
    so a builder may append (e.g. FEP-521a's multikey context on actors).
    """
    return [AS2_CONTEXT_URL, SECURITY_V1_CONTEXT_URL, dict(copy.deepcopy(_MASTODON_TERMS))]


@functools.cache
def standard_names() -> Mapping[str, str]:
    """IRI -> the shortest standard term for it (``content`` rather than ``contentMap``)."""
    by_length = sorted(_reference()[0].items(), key=lambda item: (-len(item[0]), item[0]))
    return {iri: term for term, iri in by_length}


def is_standard(context: Any, prefixes: dict[str, str]) -> bool:
    """True when ``context`` maps no standard term name to another IRI and no other
    name to a standard IRI, i.e. when re-compacting would not rename anything a
    consumer reads. ``prefixes`` collects prefix definitions across a context list."""
    if context is None:
        return True
    if isinstance(context, str):
        return _string_is_standard(context)
    if isinstance(context, list):
        return all(is_standard(item, prefixes) for item in context)
    if isinstance(context, Mapping):
        return _inline_is_standard(context, prefixes)
    return False


# Bounded: context URLs come from remote documents.
@functools.lru_cache(maxsize=1024)
def _string_is_standard(context: str) -> bool:
    return _url_is_standard(context_key(context) or context)


@functools.lru_cache(maxsize=1024)
def _url_is_standard(key: str) -> bool:
    if key in (context_key(AS2_CONTEXT_URL), context_key(SECURITY_V1_CONTEXT_URL)):
        return True
    filename = file_for(key)
    if filename is None:
        return False
    return is_standard(load_context_file(filename).get("@context"), {})


def _inline_is_standard(context: Mapping[str, Any], prefixes: dict[str, str]) -> bool:
    reference, reference_iris = _reference()
    # Prefixes may be declared anywhere in the object or in an earlier list item.
    prefixes.update({term: value for term, value in context.items() if _is_prefix(value)})
    for term, definition in context.items():
        if term.startswith("@"):
            if term in _NEUTRAL_KEYWORDS:
                continue
            return False  # @vocab, @base, @import, @propagate change how names resolve
        if _is_prefix(definition):
            continue  # a prefix only matters through the terms that use it
        iri = term_iri(definition, prefixes)
        standard = reference.get(term)
        if standard is not None:
            if iri != standard:
                return False
            if isinstance(definition, Mapping) and "@context" in definition:
                return False  # a scoped context on a standard term changes its contents
        elif iri in reference_iris:
            return False
    return True


def term_iri(definition: Any, prefixes: Mapping[str, str]) -> str | None:
    if isinstance(definition, Mapping):
        if "@reverse" in definition:
            return None
        definition = definition.get("@id")
    if not isinstance(definition, str):
        return None
    iri: str = definition
    if iri.startswith("@"):
        return iri
    prefix, sep, suffix = iri.partition(":")
    if sep and not suffix.startswith("//"):
        namespace = prefixes.get(prefix) or _reference_prefixes().get(prefix)
        if namespace is not None:
            iri = namespace + suffix
    for spelling in _SCHEMA_ORG_SPELLINGS:
        if iri.startswith(spelling):
            return "http://schema.org#" + iri[len(spelling) :]
    return iri


@functools.cache
def _reference_prefixes() -> Mapping[str, str]:
    return {
        term: definition
        for context in _reference_contexts()
        for term, definition in context.items()
        if _is_prefix(definition)
    }


def _is_prefix(definition: Any) -> bool:
    return isinstance(definition, str) and definition.endswith(("#", "/"))


def _reference_contexts() -> tuple[Mapping[str, Any], ...]:
    security = load_context_file(CONTEXT_FILES[SECURITY_V1_CONTEXT_URL])["@context"]
    return (
        load_context_file(CONTEXT_FILES[AS2_CONTEXT_URL])["@context"],
        {term: security[term] for term in _SECURITY_TERMS_READ},
        {"sec": security["sec"]},
        _MASTODON_TERMS,
    )


@functools.cache
def _reference() -> tuple[Mapping[str, str], frozenset[str]]:
    """Term name -> IRI for the names consumers read (the standard context)."""
    terms = {
        term: term_iri(definition, _reference_prefixes()) or ""
        for context in _reference_contexts()
        for term, definition in context.items()
        if not term.startswith("@") and not _is_prefix(definition)
    }
    return terms, frozenset(terms.values())
