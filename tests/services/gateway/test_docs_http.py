"""What a browser gets without a credential: the API document with its security schemes (so
``/docs`` has an Authorize button), the dashboard's files with their security headers, and a
favicon."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gatewaykit import Running, running_gateway
from services.aws.port import AwsPort
from services.gateway.app import dashboard_dir
from services.gateway.authn import PUBLIC


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    with running_gateway(tmp_path_factory.mktemp("docs"), aws) as running:
        yield running


def test_the_document_declares_every_way_to_authenticate(gateway: Running) -> None:
    document = gateway.client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header",
                                 "name": "X-API-Key"}  # fmt: skip
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert schemes["Basic"]["scheme"] == "basic"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in PUBLIC:
                assert "security" not in operation, (method, path)
            else:
                assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}, {"Basic": []}]
    assert "security" in document["paths"]["/metrics"]["get"]


@pytest.mark.parametrize("path", ["/ui/", "/ui/index.html", "/ui/app.css", "/ui/favicon.svg"])
def test_dashboard_files_carry_security_headers(gateway: Running, path: str) -> None:
    response = gateway.client.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_header_policy_is_the_pages_own_and_more(gateway: Running) -> None:
    """Every directive of ``index.html``'s meta tag is in the header, unchanged."""
    page = (dashboard_dir() or pytest.fail("no dashboard")) / "index.html"
    meta = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', page.read_text())
    assert meta is not None
    header = gateway.client.get("/ui/").headers["Content-Security-Policy"]
    directives = {d.strip() for d in header.split(";")}
    assert {d.strip() for d in meta[1].split(";")} <= directives


def test_the_favicon_is_served_without_a_credential(gateway: Running) -> None:
    response = gateway.client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
