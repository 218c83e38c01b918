"""`vadlock serve --page [DIR]`: the reference browser client's files from the same origin.

`GET /` is DIR/index.html, `GET /NAME.js` (any file directly in DIR) that file, and
`GET /design/NAME.json` the design NAME as the page reads it: its fields
(`dataclasses.asdict`) plus the `turn_detection` its client sends in `session.update`.
Nothing outside DIR is served.
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
from http import HTTPStatus
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response

DESIGN_PREFIX = "/design/"
DEFAULT_PAGE_DIR = Path(__file__).resolve().parents[2] / "web"  # the repository's web/


def design_json(name: str) -> dict:
    from vadlock.model.client.session import ClientSession
    from vadlock.model.designs import get_design

    design = get_design(name)
    return {**dataclasses.asdict(design),
            "turn_detection": dict(ClientSession(design).turn_detection)}


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("Connection", "close")])
    return Response(status.value, status.phrase, headers, body)


def page_response(page_dir: Path, path: str) -> Response | None:
    """The response for `path`, or None when the page serves nothing there."""
    if path.startswith(DESIGN_PREFIX) and path.endswith(".json"):
        name = path[len(DESIGN_PREFIX):-len(".json")]
        try:
            body = json.dumps(design_json(name)).encode()
        except ValueError as exc:
            return _response(HTTPStatus.NOT_FOUND, f"{exc}\n".encode(), "text/plain")
        return _response(HTTPStatus.OK, body, "application/json")
    name = "index.html" if path == "/" else path.lstrip("/")
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    file = page_dir / name
    if not file.is_file():
        return None
    kind = "text/javascript" if file.suffix in (".js", ".mjs") else (
        mimetypes.guess_type(file.name)[0] or "application/octet-stream")
    return _response(HTTPStatus.OK, file.read_bytes(), kind)
