"""SNS message signatures, verified as AWS documents it ("Verifying the signatures of Amazon SNS
messages"): the string to sign is built from the message's fields in a fixed order, the
certificate is fetched from ``SigningCertURL`` (which must be https on an SNS endpoint), and
the signature is RSA PKCS#1 v1.5 over SHA1 (``SignatureVersion`` 1) or SHA256 (2).

Only the envelopes SNS posts to an HTTP(S) subscription are checked: they arrive from the
internet. A Lambda function's SNS event reached the function inside AWS, and the function
forwards it with an API key of its own.

Certificates are cached by URL (SNS rotates them rarely); a fetch that fails is a 502, so SNS
delivers again later rather than the message being lost.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.errors import IngestError, UpstreamError
from services.gateway.sources.sns import is_sns_url

_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


def is_http_envelope(document: Any) -> bool:
    """An envelope SNS posted to an HTTP(S) subscription (not a Lambda event)."""
    return isinstance(document, dict) and document.get("Type") in _FIELDS


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """``name\\nvalue\\n`` for each signed field present, in AWS's order."""
    kind = envelope.get("Type")
    if kind not in _FIELDS:
        raise IngestError("Type", f"not a signed SNS message type: {kind!r}")
    parts = []
    for name in _FIELDS[kind]:
        value = envelope.get(name)
        if value is None:
            if name == "Subject":
                continue  # optional, and only signed when present
            raise IngestError(name, "required to verify the message's signature")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def check(envelope: Mapping[str, Any], certificate_pem: bytes) -> None:
    """``IngestError`` on field ``Signature`` unless ``certificate_pem`` signed the message."""
    algorithm = _HASHES.get(str(envelope.get("SignatureVersion")))
    if algorithm is None:
        raise IngestError("SignatureVersion", "must be 1 (SHA1) or 2 (SHA256)")
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
    except binascii.Error:
        raise IngestError("Signature", "not base64") from None
    try:
        key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    except ValueError:
        raise IngestError("SigningCertURL", "does not hold a PEM certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise IngestError("SigningCertURL", "the certificate's key is not RSA")
    try:
        key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise IngestError("Signature", "does not verify: not a message SNS signed") from None


class SnsSignatures:
    """Verifies HTTP(S) envelopes, fetching signing certificates through ``http``."""

    def __init__(self, http: httpx.AsyncClient, *, cache_size: int = 16) -> None:
        self._http = http
        self._certificates: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, envelope: Mapping[str, Any]) -> None:
        url = str(envelope.get("SigningCertURL", ""))
        if not is_sns_url(url) or not url.endswith(".pem"):
            raise IngestError(
                "SigningCertURL",
                "not an SNS certificate (https://sns.<region>.amazonaws.com/...pem)",
            )
        check(envelope, await self._certificate(url))

    async def _certificate(self, url: str) -> bytes:
        cached = self._certificates.get(url)
        if cached is not None:
            self._certificates.move_to_end(url)
            return cached
        try:
            response = await self._http.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"could not fetch the SNS signing certificate {url}: {exc}"
            ) from exc
        self._certificates[url] = response.content
        while len(self._certificates) > self._cache_size:
            self._certificates.popitem(last=False)
        return response.content
