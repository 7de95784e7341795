"""The commander's exception hierarchy.

Every error the commander raises on purpose is a ``CommanderError``::

    CommanderError
    ├── ConfigurationError          settings that cannot work together
    │   ├── EstateFileError         an estate file that cannot be used (carries every issue)
    │   └── DiscoveryError          an account with nothing discovery can make an estate of
    ├── ScenarioError               a scenario file that cannot be used
    │   ├── ScenarioNotFoundError   no such file or built-in scenario
    │   └── ScenarioValidationError the file breaks format v1 (carries every issue found)
    ├── AwsPortError                the AWS endpoint could not be reached or set up
    │   └── EmulatorError           the embedded emulator failed to start
    ├── SimulationError             the simulated estate could not be built or stepped
    ├── BenchmarkError              a benchmark's data set is missing or cannot be scored
    ├── DeliveryError               a notification a channel refused or could not take
    ├── IngestError                 an alert delivery that cannot be read (names the field)
    │   ├── UnknownSourceError      no alert source of that name
    │   └── ContentTypeError        a Content-Type that is not JSON
    ├── AuthError                   a request the gateway will not serve (carries the reason)
    │   ├── UnauthenticatedError    no credential, or one that does not prove who is asking (401)
    │   └── ForbiddenError          a known principal without a role the route needs (403)
    └── RequestError                a well-formed request the gateway cannot carry out
        ├── BadRequestError         a parameter that makes no sense (a foreign cursor) (400)
        ├── NotFoundError           no such incident, key or page (404)
        ├── ConflictError           the state moved on: approval answered or expired (409)
        │   ├── ResourceBusyError   another action holds the resource's lock
        │   └── LastAdminKeyError   revoking the only active admin key would lock admins out
        ├── RateLimitedError        too many requests; ``retry_after`` seconds to wait (429)
        ├── UpstreamError           a call the gateway makes for the client failed (502)
        └── OverloadedError         the commander cannot take more now; retry later (503)
            ├── StoreUnavailableError  a shared store (PostgreSQL) cannot be reached (503)
            └── RedisUnavailableError  Redis (alert stream, locks) cannot be reached (503)

Errors crossing an agent boundary are values, not exceptions (see ``ActionResult``); the CLI and
the gateway translate these classes to exit codes and HTTP statuses, each in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CommanderError(Exception):
    """Base class of every error the commander raises on purpose."""


class ConfigurationError(CommanderError):
    """Settings that cannot work together."""


class ScenarioError(CommanderError):
    """A scenario file that cannot be used."""


class ScenarioNotFoundError(ScenarioError):
    """Neither a readable file nor the name of a built-in scenario."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem in a document (a scenario file, an alert delivery): where and what."""

    field: str
    message: str


def _listed(source: Path | str, issues: list[ValidationIssue], what: str) -> str:
    """Every issue on a line of its own, each naming the file and the field."""
    lines = "\n".join(f"  {source}: {issue.field}: {issue.message}" for issue in issues)
    noun = "problem" if len(issues) == 1 else "problems"
    return f"{source}: {len(issues)} {noun} in {what}\n{lines}"


class ScenarioValidationError(ScenarioError):
    """A scenario file that breaks format v1; lists every problem, each with its field."""

    def __init__(self, source: Path | str, issues: list[ValidationIssue]) -> None:
        self.source = str(source)
        self.issues = issues
        super().__init__(_listed(source, issues, "scenario file"))


class EstateFileError(ConfigurationError):
    """An estate file that cannot be commanded: malformed, inconsistent, or naming resources
    the account does not have. Lists every problem, each with the file and the field."""

    def __init__(self, source: Path | str, issues: list[ValidationIssue]) -> None:
        self.source = str(source)
        self.issues = issues
        super().__init__(_listed(source, issues, "estate file"))


class DiscoveryError(ConfigurationError):
    """``estate discover`` found no service in the account: nothing is tagged by the
    convention, or nothing tagged is a resource a service is made of."""


class AwsPortError(CommanderError):
    """The AWS endpoint could not be reached or set up."""


class EmulatorError(AwsPortError):
    """The embedded AWS emulator failed to start."""


class SimulationError(CommanderError):
    """The simulated estate could not be built or stepped."""


class BenchmarkError(CommanderError):
    """A benchmark's data set is missing, not in its documented layout, or cannot be scored."""


class DeliveryError(CommanderError):
    """A notification a channel (PagerDuty, Slack, Teams, a webhook) refused or could not be
    reached for. ``retryable``: worth sending again (a timeout, a 5xx, a 429);
    ``retry_after``: the seconds the receiver asked to wait (its ``Retry-After``), if any."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(reason)


class IngestError(CommanderError):
    """An alert delivery that cannot be read: malformed JSON, a missing or mistyped field, a
    value out of range. The client's fault (a 4xx); ``field`` says where, ``message`` what.

    ``field`` is a path into the body (``alerts[0].labels``, ``payload.severity``), ``body`` for
    the document as a whole, or ``headers.<name>`` / ``source`` for what came with it. When the
    body breaks several rules, ``issues`` lists every one; ``field`` and ``message`` are the first.
    """

    def __init__(self, field: str, message: str, *, more: tuple[ValidationIssue, ...] = ()) -> None:
        self.field = field
        self.message = message
        self.issues = (ValidationIssue(field, message), *more)
        extra = f" (and {len(more)} more)" if more else ""
        super().__init__(f"{field}: {message}{extra}")


class UnknownSourceError(IngestError):
    """No alert source has that name."""


class ContentTypeError(IngestError):
    """The request says its body is something other than JSON."""


class AuthError(CommanderError):
    """A request the gateway will not serve; ``reason`` says why in words a client can act on.

    The reason never contains a credential: not the key, not the token, not the secret.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UnauthenticatedError(AuthError):
    """No credential, or one that does not prove who is asking: malformed, unknown, revoked,
    expired, badly signed, for another audience or issuer (HTTP 401)."""


class ForbiddenError(AuthError):
    """A known principal without any role the route allows (HTTP 403).

    ``route`` is the RBAC name of the route, ``allowed`` the roles that would let the principal
    in, ``held`` the roles it has.
    """

    def __init__(self, route: str, allowed: tuple[str, ...], held: tuple[str, ...]) -> None:
        self.route = route
        self.allowed = allowed
        self.held = held
        has = ", ".join(held) if held else "no roles"
        super().__init__(f"{route} needs one of the roles {', '.join(allowed)} (you have {has})")


class RequestError(CommanderError):
    """A well-formed request the gateway cannot carry out; the message says why."""


class BadRequestError(RequestError):
    """A parameter that makes no sense, such as a cursor this API never gave out (HTTP 400).
    ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFoundError(RequestError):
    """No such incident, API key or page (HTTP 404)."""


class ConflictError(RequestError):
    """The thing asked about has moved on: an approval already answered, expired, or given for
    another action; an incident already ended (HTTP 409)."""


class ResourceBusyError(ConflictError):
    """Another action holds the resource's lock (past the wait we allow for it)."""


class LastAdminKeyError(ConflictError):
    """Revoking this key would leave no active admin key, and so no one who can create one
    through the API (HTTP 409): create another admin key first."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"API key {key_id} is the last active admin key: revoking it would leave no one "
            "able to manage keys; create another admin key first"
        )


class RateLimitedError(RequestError):
    """Too many requests from one principal or address (HTTP 429, ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


class UpstreamError(RequestError):
    """A call the gateway makes on the client's behalf failed, such as confirming an SNS
    subscription (HTTP 502: the sender should try again)."""


class OverloadedError(RequestError):
    """The commander's queue of alerts is full: nothing was taken, send again later (HTTP 503,
    ``Retry-After``). Alert sources retry on 5xx, so the delivery is not lost."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


class StoreUnavailableError(OverloadedError):
    """A shared store in PostgreSQL could not be reached: the server refused or dropped the
    connection, or no pooled connection came free within the pool's timeout (HTTP 503,
    ``Retry-After``). The pool reconnects by itself once the database is back. A write cut off
    this way was most likely not made, but a connection lost while its commit was on the wire
    leaves that unknown: the stores' writes are keyed (a claim, an upsert, an audit record's
    key), so making the call again is how to find out.

    ``store`` names the store (``incident store``, ``action ledger``, ``audit trail``) and
    ``problem`` what failed, without the connection URL (it may hold a password).
    """

    def __init__(self, store: str, problem: str, retry_after: int = 5) -> None:
        self.store = store
        self.problem = problem
        super().__init__(f"{store}: PostgreSQL is unavailable: {problem}", retry_after)


class RedisUnavailableError(OverloadedError):
    """Redis (the alert stream, the locks, the event doorbell) did not answer (HTTP 503,
    ``Retry-After``): an alert is accepted only once it is in the stream, so the sender keeps
    it and retries."""
