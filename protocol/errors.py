"""The protocol layer's error tree.

Every error carries a machine-readable ``reason`` (a short kebab-case token that tests and
logs match on) and a human message that is safe to show a remote peer::

    ProtocolError
    ├── SignatureError
    │   ├── MissingSignature        no Signature / Signature-Input header
    │   ├── MalformedSignature      header present but unparsable
    │   ├── UnsupportedAlgorithm
    │   ├── MissingComponent        a component Mastodon requires is not covered
    │   ├── DigestMismatch          digest missing, unknown or not matching the body
    │   ├── DateSkew                Date / created outside the accepted window
    │   ├── KeyNotFound             no key for the keyId (raised by resolvers)
    │   └── BadSignature            the signature does not verify
    ├── MalformedActivity           JSON of the wrong shape
    └── OriginMismatch              an actor acting on an object of another origin
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "DateSkew",
    "DigestMismatch",
    "KeyNotFound",
    "MalformedActivity",
    "MalformedSignature",
    "MissingComponent",
    "MissingSignature",
    "OriginMismatch",
    "ProtocolError",
    "SignatureError",
    "UnsupportedAlgorithm",
]


class ProtocolError(Exception):
    """Base of every error raised by ``protocol``."""

    reason = "protocol-error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.reason


class SignatureError(ProtocolError):
    reason = "signature"


class MissingSignature(SignatureError):
    reason = "signature-missing"


class MalformedSignature(SignatureError):
    reason = "signature-malformed"


class UnsupportedAlgorithm(SignatureError):
    reason = "signature-algorithm"


class MissingComponent(SignatureError):
    reason = "signature-component-missing"


class DigestMismatch(SignatureError):
    reason = "digest-mismatch"


class DateSkew(SignatureError):
    reason = "date-skew"


class KeyNotFound(SignatureError):
    reason = "key-not-found"


class BadSignature(SignatureError):
    reason = "signature-invalid"


class MalformedActivity(ProtocolError):
    reason = "malformed-activity"


class OriginMismatch(ProtocolError):
    reason = "origin-mismatch"
