"""SNS deliveries as AWS documents them, for the ingest tests."""

from __future__ import annotations

from typing import Any

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
