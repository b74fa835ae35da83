"""The OpenAPI 3.1 document, built with apispec from the resources' own declarations."""

from __future__ import annotations

from typing import Any

import falcon
from apispec import APISpec

from api.resource import Resource
from domain.errors import ERRORS

TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "file": "string"}
ENVELOPE = {
    "type": "object",
    "required": ["error_code", "api_uri", "message"],
    "properties": {
        "error_code": {"type": "integer", "enum": sorted(ERRORS)},
        "api_uri": {"type": "string"},
        "message": {"type": "string"},
    },
    "additionalProperties": True,
}


def _schema(resource: type[Resource]) -> dict[str, Any]:
    properties = {}
    for param in resource.params:
        prop: dict[str, Any] = {"type": TYPES[param.type], "description": param.description}
        if param.type == "file":
            prop["contentMediaType"] = "application/octet-stream"
        properties[param.name] = prop
    required = [param.name for param in resource.params if param.required]
    return {"type": "object", "properties": properties, "required": required}


def _operation(resource: type[Resource]) -> dict[str, Any]:
    schema = _schema(resource)
    content = {
        media: {"schema": schema}
        for media in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/json",
        )
    }
    answer: dict[str, Any] = {"description": "the envelope (CONTRACT section 2)"}
    if resource.produces == falcon.MEDIA_JSON:
        answer["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
        }
    else:
        answer["content"] = {resource.produces: {"schema": {"type": "string", "format": "binary"}}}
    return {
        "summary": resource.summary,
        "requestBody": {"content": content, "required": False},
        "responses": {"200": answer, "default": {"description": "an error in the envelope"}},
    }


def build(
    resources: list[type[Resource]], operations: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return the OpenAPI document of these resources and of the operations' own endpoints.

    `operations` are path items given as they are (probes and metrics: no envelope).
    """
    spec = APISpec(title="Upare API", version="1.0.0", openapi_version="3.1.0")
    spec.components.schema("Envelope", ENVELOPE)
    for resource in resources:
        spec.path(
            path=resource.path,
            operations={method: _operation(resource) for method in resource.methods()},
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
