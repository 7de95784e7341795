"""SNS deliveries as AWS documents them, for the ingest tests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
SUBSCRIBE_URL = (
    "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
)


def sns_envelope(kind: str, **changes: Any) -> dict[str, Any]:
    """An SNS HTTP(S) delivery of ``kind`` (Notification, SubscriptionConfirmation, ...)."""
    body = {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2425",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": "2012-04-26T20:45:04.751Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3.pem",
    }
    return body | changes


CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem"


def signing_identity() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A key and a self-signed certificate (PEM), as SNS's signing certificate stands in."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def signed(envelope: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "2") -> dict[str, Any]:
    """``envelope`` signed as SNS signs (SignatureVersion 1: SHA1, 2: SHA256)."""
    from services.gateway.sns_signature import string_to_sign

    body = envelope | {"SignatureVersion": version, "SigningCertURL": CERT_URL}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(body), padding.PKCS1v15(), algorithm)
    return body | {"Signature": base64.b64encode(signature).decode()}
