"""The dashboard's static files at ``/ui/``, and the site's ``/favicon.ico``, both served
without a credential (the page signs in itself, in the browser).

Every ``/ui/`` answer carries the page's security policy as headers, where it is binding:
the Content-Security-Policy of the page's meta tag plus ``frame-ancestors 'none'`` (which a
meta tag cannot set; no other site may frame the dashboard and trick a click on Approve),
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The policy of ``dashboard/index.html``'s meta tag, and ``frame-ancestors 'none'``."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
}


class DashboardFiles(StaticFiles):
    """``StaticFiles`` whose every answer carries ``SECURITY_HEADERS``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount(app: FastAPI, directory: Path) -> None:
    """Serve ``directory`` (the dashboard) at ``/ui`` and its icon at ``/favicon.ico``."""
    icon = directory / "favicon.ico"

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(
            icon, media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"}
        )

    app.mount("/ui", DashboardFiles(directory=directory, html=True), name="dashboard")
