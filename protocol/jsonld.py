"""JSON-LD processing with an offline document loader.

Most fediverse software treats ActivityPub documents as plain JSON with the term names of
the ActivityStreams 2.0 context (AS2 Core §2.1 makes the compacted form the normative
serialisation), so the common path here does nothing at all. Only a document whose
``@context`` renames or redefines standard terms is expanded and re-compacted with pyld
(JSON-LD 1.1 §§4.1, 6.1) so the rest of the code can keep reading plain AS2 term names.

The loader never touches the network: every context a real server sends that we know of
ships with the package (``protocol/contexts/``), and an unknown one raises
:class:`ContextUnavailable`. :func:`normalise` turns that into "keep the plain JSON",
because refusing an activity over an unloadable context would break federation with
servers that reference unpublished vendor contexts (Funkwhale, Mbin).

Errors::

    ProtocolError
    ├── ContextUnavailable      a context URL we do not ship (never fetched)
    └── MalformedActivity       JSON-LD processing rejected the document
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from pyld import jsonld  # type: ignore[import-untyped]  # pyld ships no type hints

from protocol.errors import MalformedActivity, ProtocolError

__all__ = [
    "AS2_CONTEXT_URL",
    "SECURITY_V1_CONTEXT_URL",
    "ContextUnavailable",
    "compact_to_as2",
    "document_loader",
    "expand",
    "normalise",
    "standard_context",
]

AS2_CONTEXT_URL: Final = "https://www.w3.org/ns/activitystreams"
SECURITY_V1_CONTEXT_URL: Final = "https://w3id.org/security/v1"

# Canonical key (https, no trailing '#' or '/') -> file in protocol/contexts/.
# Sources and caveats are in that folder's README (copied from the shared vectors).
_CONTEXT_FILES: Final[Mapping[str, str]] = {
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


class ContextUnavailable(ProtocolError):
    """A context URL that is not shipped with the package; it is never fetched."""

    reason = "context-unavailable"


def standard_context() -> list[Any]:
    """The ``@context`` this node puts on the documents it sends.

    AS2 plus security v1 (for ``publicKey``) plus Mastodon's inline extension terms: the
    shape Mastodon itself sends, which every implementation reads. A fresh list each call,
    so a builder may append (e.g. FEP-521a's multikey context on actors).
    """
    return [AS2_CONTEXT_URL, SECURITY_V1_CONTEXT_URL, dict(copy.deepcopy(_MASTODON_TERMS))]


def _context_key(url: str) -> str | None:
    """Map the http/https, trailing '#'/'/' spellings of a URL to one lookup key."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    rest = rest.rstrip("#/")
    host, slash, path = rest.partition("/")
    return f"https://{host.lower()}{slash}{path}"


def _file_for(url: str) -> str | None:
    key = _context_key(url)
    if key is None:
        return None
    if key in _CONTEXT_FILES:
        return _CONTEXT_FILES[key]
    if key.endswith(_LITEPUB_SUFFIX):
        return _LITEPUB_FILE
    if key.endswith(MUTUAL_CONTEXT_SUFFIX):
        return _MUTUAL_FILE
    return None


@functools.cache
def _load(filename: str) -> Mapping[str, Any]:
    text = (resources.files("protocol") / "contexts" / filename).read_text(encoding="utf-8")
    document: Mapping[str, Any] = json.loads(text)
    return document


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that answers from shipped files and never fetches.

    Raises :class:`ContextUnavailable` for any URL not shipped. pyld wraps that in its
    own error; :func:`expand` and :func:`compact_to_as2` unwrap it again.
    """
    del options  # part of pyld's loader signature; nothing in it applies offline
    filename = _file_for(url)
    if filename is None:
        raise ContextUnavailable(f"JSON-LD context not available offline: {url}")
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        # pyld rewrites parts of loaded contexts in place; keep the cache pristine.
        "document": copy.deepcopy(dict(_load(filename))),
    }


def _unavailable_cause(error: BaseException) -> ContextUnavailable | None:
    """Find our error behind pyld's wrappers, which raise inside ``except`` blocks."""
    current: BaseException | None = error
    while current is not None and not isinstance(current, ContextUnavailable):
        current = current.__cause__ or current.__context__
    return current


def _translate(error: Exception) -> ProtocolError:
    unavailable = _unavailable_cause(error)
    if unavailable is not None:
        return ContextUnavailable(unavailable.message)
    code = getattr(error, "code", None) or type(error).__name__
    return MalformedActivity(f"JSON-LD processing failed: {code}", reason="jsonld-invalid")


# pyld is a parser of untrusted input; besides its JsonLdError it is known to fail with
# plain Python errors on some malformed documents. Those are the document's fault.
_PYLD_FAILURES: Final = (jsonld.JsonLdError, TypeError, ValueError, KeyError, AttributeError)


def expand(doc: Mapping[str, Any]) -> list[Any]:
    """Expand ``doc`` (JSON-LD 1.1 API §9.1 expansion) with the offline loader.

    Raises :class:`ContextUnavailable` when a context is not shipped, and
    :class:`~protocol.errors.MalformedActivity` when pyld rejects the document.
    """
    try:
        expanded: list[Any] = jsonld.expand(
            copy.deepcopy(dict(doc)), {"documentLoader": document_loader}
        )
    except _PYLD_FAILURES as error:
        raise _translate(error) from error
    return expanded


def compact_to_as2(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Re-compact ``doc`` against :func:`standard_context` (JSON-LD 1.1 API §9.2).

    The target is AS2 + security v1 + Mastodon's extension terms, so ``sensitive`` or
    ``votersCount`` come out under the names consumers read rather than as full IRIs.
    Terms no target context defines stay as compact or full IRIs. Raises like
    :func:`expand`.

    A sender's default ``@language`` (Pleroma, Mobilizon: ``"und"``) tags every string,
    and compaction prefers the language-map term for tagged values (JSON-LD 1.1 API
    §6.2.2), so ``name`` would come back only as ``nameMap``; the plain natural-language
    properties of AS2 Core §4.7 are restored from the default language's entry.
    """
    try:
        compacted: dict[str, Any] = jsonld.compact(
            copy.deepcopy(dict(doc)),
            {"@context": standard_context()},
            {"documentLoader": document_loader},
        )
    except _PYLD_FAILURES as error:
        raise _translate(error) from error
    language = _default_language(doc.get("@context"))
    if language is not None:
        _restore_plain_language(compacted, language)
    renamed: dict[str, Any] = _standard_keys(compacted)
    return renamed


def _standard_keys(node: Any) -> Any:
    """Rename ``as:endTime``-style keys to their standard term.

    Compaction picks a term only when the value's type matches the term definition, so
    an untyped date a sender put under its own alias (Lemmy's ``expires``) comes back as
    ``as:endTime``; consumers read values as strings anyway and look for ``endTime``.
    """
    if isinstance(node, list):
        return [_standard_keys(item) for item in node]
    if not isinstance(node, dict):
        return node
    renamed: dict[str, Any] = {}
    for key, value in node.items():
        name = key
        if ":" in key and not key.startswith("@"):
            standard = _standard_names().get(_term_iri(key, {}) or "")
            if standard is not None and standard not in node:
                name = standard
        renamed[name] = value if key == "@context" else _standard_keys(value)
    return renamed


@functools.cache
def _standard_names() -> Mapping[str, str]:
    """IRI -> the shortest standard term for it (``content`` rather than ``contentMap``)."""
    by_length = sorted(_reference()[0].items(), key=lambda item: (-len(item[0]), item[0]))
    return {iri: term for term, iri in by_length}


def _restore_plain_language(node: Any, language: str) -> None:
    if isinstance(node, list):
        for item in node:
            _restore_plain_language(item, language)
        return
    if not isinstance(node, dict):
        return
    for term in ("content", "name", "summary"):
        values = node.get(f"{term}Map")
        if term not in node and isinstance(values, dict) and language in values:
            node[term] = values[language]
            if len(values) == 1:
                del node[f"{term}Map"]
    for key, value in node.items():
        if key != "@context":
            _restore_plain_language(value, language)


def _default_language(context: Any) -> str | None:
    languages = [
        item.get("@language")
        for item in (context if isinstance(context, list) else [context])
        if isinstance(item, Mapping) and "@language" in item
    ]
    return languages[-1] if languages and isinstance(languages[-1], str) else None


def normalise(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``doc`` with standard AS2 term names, as cheaply as possible.

    - no ``@context`` anywhere (Lemmy) or only standard contexts: ``doc`` unchanged;
    - a context that renames or redefines a standard term: expanded and re-compacted;
    - a context we cannot load, or one pyld rejects: ``doc`` unchanged, so the caller
      degrades to plain-JSON handling instead of refusing (DESIGN §2).

    Never use the result to verify a signature or an FEP-8b32 proof: those cover the
    bytes or the JCS form of what was received.
    """
    original = doc if isinstance(doc, dict) else dict(doc)
    for context in _contexts_in(original):
        if not _is_standard(context, {}):
            try:
                return compact_to_as2(original)
            except ProtocolError:
                return original
    return original


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _contexts_in(doc: Mapping[str, Any]) -> list[Any]:
    """Every ``@context`` value in the document, embedded objects included.

    On every inbox request, so the walk is iterative (depth costs no stack) and tests a
    value's exact type first, inline: a string, number or plain dict is known without
    the abstract ``Mapping`` check (left for other types) and without a call."""
    found: list[Any] = []
    pending: list[Any] = [doc]
    while pending:
        node = pending.pop()
        if type(node) is dict or (type(node) is not list and isinstance(node, Mapping)):
            for key, value in node.items():
                if key == "@context":
                    found.append(value)
                    continue
                kind = type(value)
                if kind is dict or kind is list or (
                        kind not in _SCALARS and isinstance(value, Mapping | list)):
                    pending.append(value)
        else:  # a list: only objects and lists are walked
            for value in node:
                kind = type(value)
                if kind is dict or kind is list or (
                        kind not in _SCALARS and isinstance(value, Mapping | list)):
                    pending.append(value)
    return found


def _is_standard(context: Any, prefixes: dict[str, str]) -> bool:
    """True when ``context`` maps no standard term name to another IRI and no other
    name to a standard IRI, i.e. when re-compacting would not rename anything a
    consumer reads. ``prefixes`` collects prefix definitions across a context list."""
    if context is None:
        return True
    if isinstance(context, str):
        return _string_is_standard(context)
    if isinstance(context, list):
        return all(_is_standard(item, prefixes) for item in context)
    if isinstance(context, Mapping):
        return _inline_is_standard(context, prefixes)
    return False


# Bounded: context URLs come from remote documents.
@functools.lru_cache(maxsize=1024)
def _string_is_standard(context: str) -> bool:
    return _url_is_standard(_context_key(context) or context)


@functools.lru_cache(maxsize=1024)
def _url_is_standard(key: str) -> bool:
    if key in (_context_key(AS2_CONTEXT_URL), _context_key(SECURITY_V1_CONTEXT_URL)):
        return True
    filename = _file_for(key)
    if filename is None:
        return False
    return _is_standard(_load(filename).get("@context"), {})


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
        iri = _term_iri(definition, prefixes)
        standard = reference.get(term)
        if standard is not None:
            if iri != standard:
                return False
            if isinstance(definition, Mapping) and "@context" in definition:
                return False  # a scoped context on a standard term changes its contents
        elif iri in reference_iris:
            return False
    return True


def _term_iri(definition: Any, prefixes: Mapping[str, str]) -> str | None:
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
    security = _load(_CONTEXT_FILES[SECURITY_V1_CONTEXT_URL])["@context"]
    return (
        _load(_CONTEXT_FILES[AS2_CONTEXT_URL])["@context"],
        {term: security[term] for term in _SECURITY_TERMS_READ},
        {"sec": security["sec"]},
        _MASTODON_TERMS,
    )


@functools.cache
def _reference() -> tuple[Mapping[str, str], frozenset[str]]:
    """Term name -> IRI for the names consumers read (the standard context)."""
    terms = {
        term: _term_iri(definition, _reference_prefixes()) or ""
        for context in _reference_contexts()
        for term, definition in context.items()
        if not term.startswith("@") and not _is_prefix(definition)
    }
    return terms, frozenset(terms.values())
