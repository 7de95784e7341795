"""Every integer, cursor, id and filter a client sends is checked at the edge: out of range,
malformed or unknown is a 400 or 422 ``Problem`` naming the field, never a 500 from a store
underneath and never a silent empty answer; the event stream never dies on its input.

The first tests are the server errors an attacker's test run found, each now a 4xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gatewaykit import Running, running_gateway, served
from services.aws.port import AwsPort
from services.gateway.params import MAX_SEQ


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    with running_gateway(tmp_path_factory.mktemp("edge"), aws) as running:
        yield running


def _problem(response: httpx.Response, status: int, field: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    problem = response.json()
    assert set(problem) == {"error", "detail", "fields"}
    assert any(field in f["field"] for f in problem["fields"]), problem
    return problem


@pytest.mark.parametrize(
    "last_event_id",
    ["9" * 5000, str(MAX_SEQ + 1), "1" * 20, "-1", "1e3", ""],
    ids=["5000-digits", "2**63", "20-digits", "negative", "exponent", "empty"],
)
def test_a_last_event_id_that_no_event_had_is_a_400(gateway: Running, last_event_id: str) -> None:
    headers = {**gateway.auth("viewer"), "Last-Event-ID": last_event_id}
    response = gateway.client.get("/v1/events", headers=headers)
    _problem(response, 400, "Last-Event-ID")


@pytest.mark.parametrize("after", [str(MAX_SEQ + 1), "9" * 20, "9" * 5000])
@pytest.mark.parametrize("incident", [None, "inc-0000000000"])
def test_an_audit_cursor_past_64_bits_is_a_422(
    gateway: Running, after: str, incident: str | None
) -> None:
    params = {"after": after} | ({"incident": incident} if incident else {})
    response = gateway.client.get("/v1/audit", params=params, headers=gateway.auth("viewer"))
    _problem(response, 422, "after")


def test_the_largest_sequence_number_is_an_empty_audit_page(gateway: Running) -> None:
    response = gateway.client.get(
        "/v1/audit", params={"after": MAX_SEQ}, headers=gateway.auth("viewer")
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_after": None}


def test_an_event_stream_after_a_sequence_number_past_64_bits_is_a_422(gateway: Running) -> None:
    response = gateway.client.get(
        "/v1/events", params={"after": MAX_SEQ + 1}, headers=gateway.auth("viewer")
    )
    _problem(response, 422, "after")


def test_a_stream_resumed_from_the_largest_sequence_number_stays_open(gateway: Running) -> None:
    """It once answered 200, then died on SQLite's integer overflow; now it waits for news."""
    headers = {**gateway.auth("viewer"), "Last-Event-ID": str(MAX_SEQ)}
    timeout = httpx.Timeout(10, read=1.0)
    with (
        served(gateway.app) as base,
        httpx.Client(base_url=base, timeout=timeout) as http,
        http.stream("GET", "/v1/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):  # open and quiet, not ended
            for _ in response.iter_bytes():
                pass


@pytest.mark.parametrize(
    ("name", "value"), [("status", "bogus"), ("severity", "sev9"), ("severity", "critical")]
)
def test_an_unknown_filter_value_is_a_422_not_an_empty_list(
    gateway: Running, name: str, value: str
) -> None:
    response = gateway.client.get(
        "/v1/incidents", params={name: value}, headers=gateway.auth("viewer")
    )
    problem = _problem(response, 422, name)
    assert "'open'" in str(problem["detail"]) or "'sev1'" in str(problem["detail"])


def test_known_filter_values_are_accepted(gateway: Running) -> None:
    params = [("status", "open"), ("status", "awaiting_approval"), ("severity", "sev1")]
    response = gateway.client.get("/v1/incidents", params=params, headers=gateway.auth("viewer"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "cursor", ["!!", "bm90IGpzb24", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIlx1MDAwMCJd"]
)
def test_a_cursor_this_api_never_gave_out_is_a_400(gateway: Running, cursor: str) -> None:
    """The last: a well-formed cursor whose incident id holds a NUL character."""
    response = gateway.client.get(
        "/v1/incidents", params={"cursor": cursor}, headers=gateway.auth("viewer")
    )
    _problem(response, 400, "cursor")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/incidents/inc%00x", "incident_id"),
        ("/v1/incidents/%20/timeline", "incident_id"),
        ("/v1/incidents/" + "a" * 101, "incident_id"),
        ("/v1/audit?incident=a%0Ab", "incident"),
        ("/v1/events?incident=a%00b", "incident"),
        ("/v1/incidents?service=a%00b", "service"),
    ],
)
def test_an_id_that_cannot_be_one_is_a_422(gateway: Running, path: str, field: str) -> None:
    response = gateway.client.get(path, headers=gateway.auth("viewer"))
    _problem(response, 422, field)


def test_a_key_id_that_cannot_be_one_is_a_422(gateway: Running) -> None:
    response = gateway.client.delete("/v1/keys/not-a-key", headers=gateway.auth("admin"))
    _problem(response, 422, "key_id")


def test_a_well_formed_unknown_key_id_is_a_404(gateway: Running) -> None:
    response = gateway.client.delete("/v1/keys/0123456789abcdef", headers=gateway.auth("admin"))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_an_unknown_well_formed_incident_is_still_a_404(gateway: Running) -> None:
    response = gateway.client.get("/v1/incidents/inc-0000000000", headers=gateway.auth("viewer"))
    assert response.status_code == 404


def test_assigning_an_id_that_cannot_be_one_is_a_422(gateway: Running) -> None:
    """The assign route (added beside the others) checks its id at the edge as they do."""
    response = gateway.client.post(
        "/v1/incidents/inc%00x/assign", json={"to": "alice"}, headers=gateway.auth("responder")
    )
    _problem(response, 422, "incident_id")
