"""The embedded AWS emulator: moto's ``ThreadedMotoServer`` on loopback, owned by the commander.

It speaks the real AWS wire protocols over HTTP, so every boto3 call the commander makes against
it is the call it would make against an account. Where moto leaves out something a real account
records and the commander relies on, a fidelity patch below adds it, each one naming what AWS
does; none of them changes an API's inputs or outputs.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from typing import Any

from services.errors import EmulatorError

_patch_lock = threading.Lock()
_patched = False


class EmbeddedEmulator:
    """A moto server on ``host:port`` (port 0 picks a free one); start, use ``url``, stop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self.url: str | None = None

    def start(self) -> str:
        """Start the server and return its endpoint URL."""
        if self._server is not None:
            raise EmulatorError("the embedded AWS emulator is already running")
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # pragma: no cover - moto[server] is a hard dependency
            raise EmulatorError(f"moto[server] is not installed: {exc}") from exc
        apply_fidelity_patches()
        # werkzeug logs every request at INFO; the commander's own logs say what matters.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        try:
            server.start()
        except OSError as exc:
            raise EmulatorError(
                f"cannot start the embedded AWS emulator on {self._host}:{self._port}: {exc}"
            ) from exc
        host, port = server.get_host_and_port()
        self._server = server
        self.url = f"http://{host}:{port}"
        return self.url

    def reset(self) -> None:
        """Forget every resource and datapoint (moto's reset API), as a fresh account would."""
        if self.url is None:
            raise EmulatorError("the embedded AWS emulator is not running")
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.url = None

    def __enter__(self) -> EmbeddedEmulator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def apply_fidelity_patches() -> None:
    """Make moto record what AWS records and the commander reads back. Idempotent."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        _record_rds_reboots()
        _patched = True


def _record_rds_reboots() -> None:
    """RDS writes an event for every reboot (RDS-EVENT-0006, "DB instance restarted") and for
    every Multi-AZ failover (RDS-EVENT-0015); moto's RebootDBInstance records nothing. The
    simulator reads reboots back through ``DescribeEvents``, as it would on an account.
    """
    from moto.rds import models, responses

    models.Event.EVENT_MAP.setdefault(
        "DB_INSTANCE_RESTARTED",
        {"Categories": ["availability"], "Message": "DB instance restarted"},
    )
    models.Event.EVENT_MAP.setdefault(
        "DB_INSTANCE_FAILOVER_COMPLETED",
        {"Categories": ["failover"], "Message": "Multi-AZ instance failover completed"},
    )
    original = responses.RDSResponse.reboot_db_instance

    def reboot_db_instance(self: Any) -> Any:
        result = original(self)
        identifier = self.params.get("DBInstanceIdentifier")
        database = self.backend.describe_db_instances(identifier)[0]
        failover = str(self.params.get("ForceFailover", "false")).lower() == "true"
        database.add_event(
            "DB_INSTANCE_FAILOVER_COMPLETED" if failover else "DB_INSTANCE_RESTARTED"
        )
        return result

    responses.RDSResponse.reboot_db_instance = reboot_db_instance  # type: ignore[method-assign]
