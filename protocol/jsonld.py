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

This module is the public API; the rest of the code imports only from here. Behind it:
``protocol.jsonld_loader`` (the offline document loader and the registry of shipped
contexts) and ``protocol.jsonld_terms`` (the standard context, and the check that a
sender's context leaves the standard term names alone).

Errors::

    ProtocolError
    ├── ContextUnavailable      a context URL we do not ship (never fetched)
    └── MalformedActivity       JSON-LD processing rejected the document
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from pyld import jsonld  # type: ignore[import-untyped]  # pyld ships no type hints

from protocol.errors import MalformedActivity, ProtocolError
from protocol.jsonld_loader import (
    AS2_CONTEXT_URL,
    SECURITY_V1_CONTEXT_URL,
    ContextUnavailable,
    document_loader,
)
from protocol.jsonld_terms import is_standard, standard_context, standard_names, term_iri

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
            standard = standard_names().get(term_iri(key, {}) or "")
            if standard is not None and standard not in node:
                name = standard
        renamed[name] = value if key == "@context" else _standard_keys(value)
    return renamed


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
        if not is_standard(context, {}):
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
