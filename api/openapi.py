"""The OpenAPI 3.1 document, built with apispec from the resources' own declarations.

Parameters come from `Resource.params` (types, bounds, patterns, enums, required); responses
from `answers`, `headers`, `codes` and the codes the frame itself answers: every parameter's
own `missing`/`empty` code, 100004 (400, and 413 for a body over the limit), the caller
checks, and 100003 (503); every 429 and 503 carries `Retry-After`. `200001` (405) is not
listed: it answers methods the document does not give a route. A resource that also
`produces` pages documents `text/html` beside JSON; one that `redirects` documents its 302.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import falcon
from apispec import APISpec

from api.params import FIRST_SECOND, LAST_SECOND, RESPONSE_TYPE, TIME, Param
from api.resource import Resource
from domain.errors import ERRORS

REF = "#/components/schemas/Envelope"
ENVELOPE = {
    "type": "object",
    "required": ["error_code", "api_uri", "message"],
    "properties": {
        "error_code": {"type": "integer", "enum": sorted(ERRORS)},
        "api_uri": {"type": "string"},
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
BODIES = (falcon.MEDIA_URLENCODED, falcon.MEDIA_MULTIPART, falcon.MEDIA_JSON)
FRAME_CODES = (100004, 100003)
HEADERS = {"X-Request-ID": {"description": "the request's id", "schema": {"type": "string"}}}
STALE = {"description": "`true`: the read models had not caught up", "schema": {"type": "string"}}
RETRY = {"required": True, "schema": {"type": "integer"}, "description": "seconds"}
SECURITY = {
    "session": {"type": "apiKey", "in": "cookie", "name": "sid"},
    "bearer": {"type": "http", "scheme": "bearer"},
}


def param_schema(param: Param) -> dict[str, Any]:
    """Return the JSON schema of one parameter's value."""
    if param.type == "file":
        return {"type": "string", "format": "binary", "description": param.description}
    if param.type == "date-time":
        empty = "" if param.required or param.min_length else "?"  # empty: no time
        return {
            "description": param.description,
            "oneOf": [
                {"type": "string", "pattern": f"^(?:{TIME}){empty}$"},
                {"type": "integer", "minimum": FIRST_SECOND, "maximum": LAST_SECOND},
            ],
        }
    schema: dict[str, Any] = {"type": param.type, "description": param.description}
    if param.type == "integer":
        schema.update(minimum=param.minimum, maximum=param.maximum)
    if param.type == "string":
        if param.choices:
            schema["enum"] = list(param.choices)
        if param.min_length or param.required:  # a required value sent empty is missing
            schema["minLength"] = max(param.min_length, 1)
        if param.max_length is not None:
            schema["maxLength"] = param.max_length
        if param.pattern:
            schema["pattern"] = f"^(?:{param.pattern})$"
    if param.default is not None:
        schema["default"] = param.default
    return schema


def _request(resource: type[Resource], method: str) -> dict[str, Any]:
    """Return the operation's parameters: the query of a GET, else a body in each media type."""
    files = any(param.type == "file" for param in resource.params)
    if method == "get" and not files:
        return {
            "parameters": [
                {"name": p.name, "in": "query", "required": p.required, "schema": param_schema(p)}
                for p in resource.params
                if not p.body_only
            ]
        }
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {param.name: param_schema(param) for param in resource.params},
        "required": [param.name for param in resource.params if param.required],
    }
    choices = {param.name: param.choices for param in resource.params}
    conditions = [  # needed unless the other parameter takes another value
        {
            "anyOf": [
                {"required": [param.name]},
                {"properties": {other: {"enum": [c for c in choices[other] if c != value]}}},
            ]
        }
        for param in resource.params
        if param.required_if
        for other, value in [param.required_if]
    ]
    if conditions:
        schema["allOf"] = conditions
    if not files:
        return {
            "requestBody": {
                "required": bool(schema["required"]),
                "content": {media: {"schema": schema} for media in BODIES},
            }
        }
    encoding = {
        param.name: {"contentType": ", ".join(param.choices)}
        for param in resource.params
        if param.type == "file" and param.choices
    }
    multipart = {"schema": schema, "encoding": encoding}
    content = {falcon.MEDIA_MULTIPART: multipart}
    return {"requestBody": {"required": bool(schema["required"]), "content": content}}


def _content(resource: type[Resource], schema: dict[str, Any]) -> dict[str, Any]:
    content = {falcon.MEDIA_JSON: {"schema": schema}}
    if RESPONSE_TYPE in resource.params:
        content["text/plain"] = {"schema": {"type": "string", "pattern": "^[0-9]+$"}}
    if falcon.MEDIA_HTML in resource.produces:  # a page, for a browser, refusals included
        content[falcon.MEDIA_HTML] = {"schema": {"type": "string"}}
    return content


def _responses(resource: type[Resource]) -> dict[str, Any]:
    headers: dict[str, Any] = dict(HEADERS)
    if resource.reads:
        headers["X-Stale"] = STALE
    if resource.produces[0] == falcon.MEDIA_JSON:
        success = {"properties": {"error_code": {"const": 0}, **resource.answers}}
        required = [name for name in resource.answers if name not in resource.optional]
        schema = {"allOf": [{"$ref": REF}, {**success, "required": required}]}
        content = _content(resource, schema)
    else:
        binary = {"schema": {"type": "string", "format": "binary"}}
        content = {media: binary for media in resource.produces}
    own = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in resource.headers.items()
    }
    responses = {
        "200": {"description": "success", "headers": {**headers, **own}, "content": content}
    }
    if resource.redirects:
        location = {"required": True, "schema": {"type": "string"}, "description": "the target"}
        responses["302"] = {
            "description": resource.redirects,
            "headers": {**HEADERS, "Location": location},
        }
    own_codes = [code for param in resource.params for code in (param.missing, param.empty)]
    by_status: dict[int, set[int]] = defaultdict(set)
    for code in (*FRAME_CODES, *resource.codes, *resource.caller.codes(), *own_codes):
        if code:
            by_status[ERRORS[code][1]].add(code)
    by_status[413].add(100004)  # a body over the limit
    by_status[414].add(100004)  # a request line over gunicorn's (upare/gunicorn_worker.py)
    for status, codes in sorted(by_status.items()):
        schema = {"allOf": [{"$ref": REF}, {"properties": {"error_code": {"enum": sorted(codes)}}}]}
        described = "; ".join(f"{code} {ERRORS[code][0]}" for code in sorted(codes))
        responses[str(status)] = {
            "description": described,
            "headers": {**HEADERS, "Retry-After": RETRY} if status in (429, 503) else HEADERS,
            "content": _content(resource, schema),
        }
    return responses


def _operation(resource: type[Resource], method: str) -> dict[str, Any]:
    anonymous: list[dict[str, list[str]]] = [] if resource.caller.user else [{}]
    return {
        "summary": resource.summary,
        **_request(resource, method),
        "responses": _responses(resource),
        "security": [*anonymous, {"session": []}, {"bearer": []}],
    }


def build(
    resources: list[type[Resource]], operations: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return the OpenAPI document of these resources and of the operations' own endpoints.

    `operations` are path items given as they are (probes and metrics: no envelope).
    """
    spec = APISpec(title="Upare API", version="1.0.0", openapi_version="3.1.0")
    spec.components.schema("Envelope", ENVELOPE)
    for name, scheme in SECURITY.items():
        spec.components.security_scheme(name, scheme)
    for resource in resources:
        spec.path(
            path=resource.path,
            operations={method: _operation(resource, method) for method in resource.methods()},
        )
    for path, item in (operations or {}).items():
        spec.path(path=path, operations=item)
    return spec.to_dict()


class OpenApi:
    """Serve the OpenAPI document at /openapi.json."""

    def __init__(
        self,
        resources: list[type[Resource]],
        operations: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.document = build(resources, operations)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document
