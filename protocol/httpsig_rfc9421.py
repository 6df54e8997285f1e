"""RFC 9421 HTTP message signatures: ``Signature-Input`` parsing and the signature base.

Selects a member of the ``Signature-Input`` / ``Signature`` dictionaries (§4.1, §4.2),
computes each covered component's value (§2.1 fields, §2.2 derived components) and
rebuilds the signature base (§2.5). Signing, policy and verification live in
``protocol.httpsig``, which is the module to import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import parse_qsl, quote

from protocol.errors import MalformedSignature, MissingComponent
from protocol.httpsig_common import (
    ALG_FROM_KEY,
    SignatureInput,
    covered_date,
    from_unix,
    header_value,
    split_url,
)
from protocol.sfv import SFError, Token, parse_dictionary, serialize_inner_list, serialize_item

__all__ = ["LABEL", "component_value", "parse_rfc9421"]

#: A signature label must be an RFC 8941 §3.2 dictionary key.
LABEL = re.compile(r"[a-z*][a-z0-9_\-.*]*")


def parse_rfc9421(
    method: str, url: str, headers: Mapping[str, str], label: str | None
) -> SignatureInput:
    inputs = _sf_dictionary(headers["signature-input"], "Signature-Input")
    if "signature" not in headers:
        raise MalformedSignature("Signature-Input without a Signature header")
    signatures = _sf_dictionary(headers["signature"], "Signature")
    if label is None:
        label = next((k for k, (_, p) in inputs.items() if isinstance(p.get("keyid"), str)), None)
        if label is None:
            raise MalformedSignature("no Signature-Input member names a keyid")
    if label not in inputs:
        raise MalformedSignature(f"Signature-Input has no member {label!r}")
    covered, params = inputs[label]
    if not isinstance(covered, list):
        raise MalformedSignature(f"Signature-Input member {label!r} is not an inner list")
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise MalformedSignature(f"signature {label!r} has no keyid string")
    signature = signatures.get(label, (None, {}))[0]
    if not isinstance(signature, bytes) or not signature:
        raise MalformedSignature(f"Signature has no byte-sequence member {label!r}")
    alg = params.get("alg", ALG_FROM_KEY)
    if not isinstance(alg, str):
        raise MalformedSignature("alg parameter is not a string")
    lines: list[str] = []
    names: list[str] = []
    for name, item_params in covered:
        if not isinstance(name, str) or isinstance(name, Token) or name != name.lower():
            raise MalformedSignature("component identifiers must be lower-case strings (§2)")
        ident = _sf(serialize_item, name, item_params)
        if any(line.startswith(ident + ": ") for line in lines):
            raise MalformedSignature(f"component {ident} is covered twice (§2.5)")
        lines.append(f"{ident}: {component_value(name, item_params, method, url, headers)}")
        names.append(name + ident[len(_sf(serialize_item, name, {})) :])
    lines.append(f'"@signature-params": {_sf(serialize_inner_list, covered, params)}')
    try:
        base = "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedSignature("signature base is not ASCII (RFC 9421 §2.5)") from exc
    return SignatureInput(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=alg.lower(),
        components=tuple(names),
        signature=signature,
        bases=(base,),
        created=_param_time(params, "created"),
        expires=_param_time(params, "expires"),
        date=covered_date(headers, "date" in names),
        label=label,
    )


def component_value(
    name: str, params: Mapping[str, object], method: str, url: str, headers: Mapping[str, str]
) -> str:
    """One component value for an RFC 9421 signature base (§2.1 fields, §2.2 derived)."""
    if not name.startswith("@"):
        if params:
            raise MalformedSignature(f"field parameters {sorted(params)} on {name} unsupported")
        return header_value(headers, name)
    if set(params) - ({"name"} if name == "@query-param" else set()):
        raise MalformedSignature(f"parameters {sorted(params)} on {name} unsupported")
    parts = split_url(url)
    query = f"?{parts.query}" if parts.query else ""
    if name == "@method":
        return method
    if name == "@target-uri":
        return url
    if name == "@authority":
        # §2.2.3: normalised per HTTP semantics: lower case, default port omitted.
        host = parts.netloc.rpartition("@")[2].lower()
        default = {"http": ":80", "https": ":443"}.get(parts.scheme.lower(), "")
        return host[: -len(default)] if default and host.endswith(default) else host
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@request-target":
        return (parts.path or "/") + query
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return query or "?"  # §2.2.7: an absent query is "?" alone
    if name == "@query-param":
        return _query_param(parts.query, params.get("name"))
    raise MalformedSignature(f"derived component {name} is not supported in a request")


def _query_param(query: str, name: object) -> str:
    """§2.2.8: decode as a form, re-encode name and value, spaces as %20."""
    if not isinstance(name, str):
        raise MalformedSignature('@query-param needs a string "name" parameter')
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if _form_encode(k) == name]
    if not values:
        raise MissingComponent(f"signed query parameter {name!r} is absent from the request")
    if len(values) > 1:
        raise MalformedSignature(f"signed query parameter {name!r} occurs more than once")
    return _form_encode(values[0])


def _form_encode(text: str) -> str:
    # The application/x-www-form-urlencoded percent-encode set leaves only *-._ and
    # alphanumerics; urllib also leaves "~".
    return quote(text, safe="*").replace("~", "%7E")


def _sf_dictionary(value: str, field: str) -> dict[str, tuple[object, dict[str, object]]]:
    try:
        return parse_dictionary(value)
    except SFError as exc:
        raise MalformedSignature(f"{field} is not a structured-field dictionary: {exc}") from exc


def _sf(func: Callable[..., str], *args: object) -> str:
    try:
        return func(*args)
    except SFError as exc:
        raise MalformedSignature(f"cannot serialise signature input: {exc}") from exc


def _param_time(params: Mapping[str, object], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedSignature(f"{name} parameter is not an integer (RFC 9421 §2.3)")
    return from_unix(value, name)
