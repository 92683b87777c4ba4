"""The OpenAPI description of `POST /invocations`: its request bodies, answers and errors.

The endpoint reads the raw body (images are not form fields), so FastAPI cannot derive these
from a signature; they are written out here for the `/docs` page and `/openapi.json`.
"""

from __future__ import annotations

_BOX = {
    "type": "object",
    "description": "relative xyxy: 0..1 of the image width and height",
    "properties": {k: {"type": "number"} for k in ("x_min", "y_min", "x_max", "y_max")},
}
_OBJECT = {
    "type": "object",
    "required": ["box", "object_type", "score"],
    "properties": {
        "box": _BOX,
        "object_type": {"type": "string", "enum": ["upper-body", "lower-body", "full-body", "footwear"]},
        "score": {"type": "number", "description": "detector confidence"},
        "category": {"type": ["string", "null"], "description": "present with a category model"},
        "category_score": {"type": ["number", "null"]},
        "pattern": {"type": ["string", "null"], "description": "present with an attribute model"},
        "style": {"type": ["string", "null"]},
        "attributes": {"type": "array", "items": {"type": "string"}, "description": "key:value labels"},
        "attribute_scores": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}
_REMOVED = {
    "type": "object",
    "description": "a detection a post-processing rule removed",
    "properties": {"rule": {"type": "string"}, "object_type": {"type": "string"}, "score": {"type": "number"}, "box": _BOX},
}
RECORD_SCHEMA = {
    "type": "object",
    "title": "Prediction",
    "description": "The record `curate predict` writes for one image; `image` is null (a request has no file name).",
    "required": ["image", "width", "height", "objects", "removed", "models"],
    "properties": {
        "image": {"type": "null"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "objects": {"type": "array", "items": _OBJECT},
        "removed": {"type": "array", "items": _REMOVED},
        "models": {"type": "object", "description": "model id of each stage (null when the stage is absent)", "additionalProperties": {"type": ["string", "null"]}},
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["error", "status"],
    "properties": {"error": {"type": "string", "description": "what was wrong, what was expected, what was found"}, "status": {"type": "integer"}},
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_ERROR = {"application/json": {"schema": ERROR_SCHEMA}}

INVOCATIONS_DOC = {
    "description": (
        "Send one image as the body (`image/jpeg`, `image/png` or `application/x-image`; the format is read from the bytes: "
        "PNG, JPEG, GIF, BMP or WebP) or as JSON `{\"image\": \"<base64>\"}`. Requests that arrive together are predicted "
        "as one batch. `Accept: image/png` returns the colour-coded picture when the server runs with `--visualize`."
    ),
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": _BINARY,
                "image/png": _BINARY,
                "application/x-image": _BINARY,
                "application/json": {"schema": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "byte", "description": "the image file, base64"}}}},
            },
        }
    },
    "responses": {
        200: {"description": "the prediction", "content": {"application/json": {"schema": RECORD_SCHEMA}, "image/png": _BINARY}},
        400: {"description": "empty body, malformed JSON or base64, truncated or corrupt image", "content": _ERROR},
        406: {"description": "Accept names no type the server answers (image/png needs --visualize)", "content": _ERROR},
        408: {"description": "the body did not arrive within --timeout", "content": _ERROR},
        413: {"description": "body over --max-bytes or image over --max-pixels", "content": _ERROR},
        415: {"description": "Content-Type not accepted, or the bytes are not an image", "content": _ERROR},
        503: {"description": "models still loading, or the queue is full (Retry-After says when to retry)", "content": _ERROR},
        504: {"description": "no answer within --timeout", "content": _ERROR},
    },
}
