"""What a request to `/invocations` carries, read into an RGB image or one clear error.

Pure functions (no web framework): the body's media type, the image bytes it holds, the decoded
image, and which representation the client accepts. Each failure is a `RequestError` with the
HTTP status and a message that says what was wrong, what was expected and what was found.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np

from curate.errors import CurateError
from curate.imageio import decode_image_bytes, image_format, read_image_size_bytes

IMAGE_TYPES = ("image/jpeg", "image/png", "application/x-image")
JSON_TYPE = "application/json"
ACCEPTED_TYPES = (*IMAGE_TYPES, JSON_TYPE)
FORMATS = "PNG, JPEG, GIF, BMP or WebP"
JSON_SHAPE = 'a JSON object {"image": "<base64>"}'


class RequestError(Exception):
    """A request the server cannot answer with a prediction: `status` and one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


def media_type(content_type: str | None) -> str:
    """'image/png' from 'image/png; charset=binary'; '' when there is no header."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def checked_media_type(content_type: str | None) -> str:
    """The request's media type when the endpoint reads it; else a 415 naming the accepted ones."""
    kind = media_type(content_type)
    expected = ", ".join(ACCEPTED_TYPES)
    if not kind:
        raise RequestError(415, f"the request has no Content-Type header; expected one of {expected}")
    if kind not in ACCEPTED_TYPES:
        raise RequestError(415, f"Content-Type '{kind}' is not accepted; expected one of {expected}")
    return kind


def image_bytes(kind: str, body: bytes) -> tuple[bytes, str]:
    """The image bytes of a body of media type `kind` (see `checked_media_type`) and the name
    errors use for them ('request body', or the JSON field)."""
    if not body:
        wanted = JSON_SHAPE if kind == JSON_TYPE else f"the bytes of a {FORMATS} image"
        raise RequestError(400, f"the request body is empty; expected {wanted}")
    if kind != JSON_TYPE:
        return body, "request body"
    return _json_image(body), "field 'image'"


def _json_image(body: bytes) -> bytes:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the request body is not valid JSON ({exc}); expected {JSON_SHAPE}") from None
    if not isinstance(document, dict) or "image" not in document:
        found = f"an object with keys {sorted(document)}" if isinstance(document, dict) else f"a JSON {type(document).__name__}"
        raise RequestError(400, f"expected {JSON_SHAPE}, found {found}")
    text = document["image"]
    if not isinstance(text, str):
        raise RequestError(400, f"field 'image' must be a base64 string, found a JSON {type(text).__name__}")
    if text.startswith("data:") and ";base64," in text[:100]:
        text = text.split(";base64,", 1)[1]  # a data URL: the part after the prefix
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(400, f"field 'image' is not valid base64 ({exc}); expected the image file's bytes, base64-encoded") from None
    if not data:
        raise RequestError(400, "field 'image' is empty; expected the image file's bytes, base64-encoded")
    return data


def decode_image(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """uint8 RGB; 415 when the bytes are no image format, 413 above `max_pixels`, 400 when the
    image is truncated or corrupt."""
    if image_format(data[:16]) is None:
        raise RequestError(415, f"{name}: not a {FORMATS} image (its first bytes are {data[:8].hex(' ')})")
    try:
        width, height = read_image_size_bytes(data, name)
    except CurateError as exc:
        raise RequestError(400, str(exc)) from None
    if width * height > max_pixels:
        raise RequestError(413, f"{name}: image is {width}x{height} = {width * height:,} pixels; the server accepts at most {max_pixels:,}")
    try:
        return decode_image_bytes(data, name)
    except CurateError as exc:
        raise RequestError(400, str(exc)) from None


def wants_png(accept: str | None) -> bool:
    """True when the Accept header prefers image/png to JSON (ties go to JSON; `*/*` is JSON)."""
    quality: dict[str, float] = {}
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if fields[0]:
            quality[fields[0].lower()] = max(q, quality.get(fields[0].lower(), 0.0))
    png = quality.get("image/png", 0.0)
    return png > 0 and png > quality.get(JSON_TYPE, quality.get("application/*", 0.0))


def accepts_json(accept: str | None) -> bool:
    """False only when the Accept header names types and none of them covers JSON."""
    kinds = {p.split(";")[0].strip().lower() for p in (accept or "").split(",") if p.strip()}
    return not kinds or bool(kinds & {JSON_TYPE, "application/*", "*/*"})
