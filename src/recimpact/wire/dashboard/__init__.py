"""The web dashboard: static files shipped inside the package (no build step, no network at run time), served
at ``/`` and ``/static/``. The page talks to the same server: the AWS JSON control plane (``POST /``) and the read
API (``/api/v1/*``)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# Revalidate on every load: the files are small, and a browser must never mix modules of two versions.
_NO_STALE = {"Cache-Control": "no-cache"}


class _StaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_NO_STALE)
        return response


async def index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=_NO_STALE)


def routes() -> list[Route | Mount]:
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", app=_StaticFiles(directory=STATIC_DIR), name="static"),
    ]
