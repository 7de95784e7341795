"""SNS signatures: an envelope SNS signed is taken, anything else is refused before it acts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gatewaykit import PAYLOADS, Running, running_gateway
from services.aws.port import AwsPort
from snskit import CERT_URL, signed, signing_identity, sns_envelope

KEY, CERTIFICATE = signing_identity()
OTHER_KEY, _ = signing_identity()


class CertificateServer:
    """What SNS's certificate host answers, through httpx's own test seam."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetched.append(str(request.url))
        if str(request.url) == CERT_URL:
            return httpx.Response(self.status, content=CERTIFICATE)
        return httpx.Response(200, text="subscribed")  # the SubscribeURL


@pytest.fixture(scope="module")
def server() -> CertificateServer:
    return CertificateServer()


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, aws: AwsPort, server: CertificateServer
) -> Iterator[Running]:
    folder = Path(tmp_path_factory.mktemp("sns"))
    with running_gateway(
        folder, aws, http_transport=httpx.MockTransport(server), sns_verify_signatures=True
    ) as running:
        yield running


def _post(running: Running, body: dict[str, object]) -> httpx.Response:
    headers = {**running.auth("ingest"), "Content-Type": "text/plain; charset=UTF-8"}
    return running.client.post("/v1/alerts/cloudwatch", content=json.dumps(body), headers=headers)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_subscription_sns_signed_is_confirmed(
    running: Running, server: CertificateServer, version: str
) -> None:
    server.fetched.clear()
    response = _post(running, signed(sns_envelope("SubscriptionConfirmation"), KEY, version))
    assert response.status_code == 202, response.text
    assert response.json()["confirmed"] is True
    assert server.fetched[-1].startswith("https://sns.us-west-2.amazonaws.com/?Action=Confirm")


def test_a_notification_sns_signed_is_taken(running: Running) -> None:
    lambda_event = PAYLOADS / "aws_cloudwatch_alarm_sns_message_single_metric.aws-lambda-go.json"
    alarm = json.loads(lambda_event.read_text())["Records"][0]["Sns"]["Message"]
    message = sns_envelope("Notification", Message=alarm, Subject="ALARM")
    response = _post(running, signed(message, KEY))
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1, response.text


@pytest.mark.parametrize(
    ("forge", "field"),
    [
        (lambda b: b | {"Message": "tampered"}, "Signature"),
        (lambda b: b | {"Signature": "bm90IGEgc2lnbmF0dXJl"}, "Signature"),
        (lambda b: b | {"Signature": "%%%"}, "Signature"),
        (lambda b: b | {"SignatureVersion": "3"}, "SignatureVersion"),
        (lambda b: b | {"SigningCertURL": "https://evil.example.com/cert.pem"}, "SigningCertURL"),
        (
            lambda b: b | {"SigningCertURL": "http://sns.us-west-2.amazonaws.com/c.pem"},
            "SigningCertURL",
        ),
    ],
    ids=["tampered", "wrong signature", "not base64", "unknown version", "foreign host", "http"],
)
def test_a_message_sns_did_not_sign_is_refused_and_not_acted_on(
    running: Running, server: CertificateServer, forge: object, field: str
) -> None:
    server.fetched.clear()
    body = forge(signed(sns_envelope("SubscriptionConfirmation"), KEY))  # type: ignore[operator]
    response = _post(running, body)
    assert response.status_code == 400
    assert response.json()["fields"][0]["field"] == field
    assert not [url for url in server.fetched if "ConfirmSubscription" in url]


def test_another_key_than_the_certificates_is_refused(running: Running) -> None:
    response = _post(running, signed(sns_envelope("SubscriptionConfirmation"), OTHER_KEY))
    assert response.status_code == 400
    assert "does not verify" in response.json()["detail"]


def test_a_certificate_that_cannot_be_fetched_is_a_502_so_sns_retries(
    running: Running, server: CertificateServer
) -> None:
    running.gateway.sns._certificates.clear()
    server.status = 503
    try:
        response = _post(running, signed(sns_envelope("SubscriptionConfirmation"), KEY))
    finally:
        server.status = 200
    assert response.status_code == 502
