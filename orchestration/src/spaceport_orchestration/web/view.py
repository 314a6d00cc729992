"""`spaceport view OUT`: one run's folder served as static files, the page at /site/index.html.

The whole run folder is served (not only site/) because the page links the model and the
reports beside it (../scene.sog); a browser cannot read them from a file:// page over fetch.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from spaceport_orchestration.results import SITE_DIR
from spaceport_shared.errors import SpaceportError

PAGE = f"/{SITE_DIR}/index.html"


def check_run_folder(out: Path) -> Path:
    out = Path(out)
    if not (out / SITE_DIR / "index.html").is_file():
        raise SpaceportError(
            f"{out} holds no results page ({SITE_DIR}/index.html); give the --out folder of "
            "a finished `spaceport run` or `spaceport demo`."
        )
    return out


def view_app(out: Path) -> Starlette:
    out = check_run_folder(out)

    async def home(request):
        return RedirectResponse(PAGE)

    return Starlette(routes=[Route("/", home), Mount("/", StaticFiles(directory=out, html=True))])
