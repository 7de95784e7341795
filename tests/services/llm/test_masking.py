"""Secrets and personal data never reach a model: each kind is masked, ordinary log text is not."""

from __future__ import annotations

import pytest

from services.llm.masking import mask

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
API_KEY = "ic_0123456789abcdef_" + "A" * 20 + "b-c_" + "9" * 19


@pytest.mark.parametrize(
    ("text", "secret", "placeholder"),
    [
        ("key AKIAIOSFODNN7EXAMPLE used from far away", "AKIAIOSFODNN7EXAMPLE", "[aws-key]"),
        ("temporary ASIAY34FZKBOKMUTVV7A seen", "ASIAY34FZKBOKMUTVV7A", "[aws-key]"),
        (f"leaked {SECRET_KEY} in a log", SECRET_KEY, "[secret]"),
        ("aws_secret_access_key=abc123", "abc123", "aws_secret_access_key=[secret]"),
        ('password: "hunter2"', "hunter2", "password: [secret]"),
        ("paged alice.smith@example.com about it", "alice.smith@example.com", "[email]"),
        ("connection from 203.0.113.42 refused", "203.0.113.42", "[ip]"),
        ("peer 2001:db8::8a2e:370:7334 reset", "2001:db8::8a2e:370:7334", "[ip]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9", "[token]"),
        (f"X-API-Key {API_KEY} rejected", API_KEY, "[ic-api-key]"),
    ],
)
def test_each_kind_of_secret_is_masked(text: str, secret: str, placeholder: str) -> None:
    masked = mask(text)

    assert secret not in masked
    assert placeholder in masked


@pytest.mark.parametrize(
    "text",
    [
        "java.lang.NullPointerException at CheckoutHandler.process(CheckoutHandler.java:88)",
        "upstream inventory-db timed out after 3000 ms",
        "rate anomaly: POST /login from 12 client addresses",
        "revision changed -2 step(s) from the onset",
        "requests x5.2",
        "checkout-service-7f9c4d2b latency anomalous (score 9.1): 120 -> 840",
    ],
)
def test_ordinary_evidence_is_left_alone(text: str) -> None:
    assert mask(text) == text
