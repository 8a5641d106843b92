"""The OpenAPI document, completed with what the node enforces on every route.

FastAPI describes what each route declares. Some answers come from machinery every
route shares rather than from the route itself: the error handlers (problem+json for
every 4xx and 5xx), the body parser (400 for a body that is not JSON), the size limit
(413), token checking (401 for a bad token, 403 for a missing scope), ``If-Match`` (412)
and request validation (422). They are added here from the shape of each operation,
once, so no route can forget one and the SDK and the fuzzing in the test suite hold
the node to what it really does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from registry.errors import PROBLEM_MEDIA_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Why each shared answer happens; the route's own description wins where it has one.
SHARED_ANSWERS = {
    "400": "The body is not well-formed JSON.",
    "401": "The access token is missing, expired or not valid here.",
    "403": "The access token lacks a scope this operation needs.",
    "404": "Nothing by that id that the caller may see.",
    "412": "`If-Match` does not name the current version.",
    "413": "The request body is larger than the node accepts.",
    "422": "A parameter, header or body field is not valid; `errors` names each.",
    "429": "Too many requests; `Retry-After` says when to try again.",
}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    paths: dict[str, Any] = document.get("paths", {})
    for item in paths.values():
        for method in METHODS:
            if method in item:
                _complete_operation(item[method])
    _link_created_items(paths)
    schemas = document.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        _walk(schema, _keys_match_their_pattern)
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))
    return document


def _complete_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    body = operation.get("requestBody", {}).get("content", {})
    security = operation.get("security", [])
    shared = {"422"}
    if "application/json" in body:
        shared |= {"400"}
    if body:
        shared |= {"413"}
    if any("lumbung" in requirement for requirement in security):
        shared |= {"401"}
    if any(requirement.get("lumbung") for requirement in security):
        shared |= {"403"}
    if any(p.get("in") == "path" for p in parameters):
        shared |= {"404"}
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in parameters):
        shared |= {"412"}
    for status in shared:
        responses.setdefault(status, {"description": SHARED_ANSWERS[status]})
    for status, response in responses.items():
        if _is_problem(status, response):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": dict(PROBLEM_REF)}}
            if response.get("description") in (None, "Problem", "Validation Error"):
                response["description"] = SHARED_ANSWERS.get(status, "Problem")
        if status == "401" and _is_problem(status, response):
            response.setdefault("headers", {})["WWW-Authenticate"] = {
                "description": "The `Bearer` scheme, with the error and the scope needed.",
                "schema": {"type": "string"},
            }
        if status == "429":
            response.setdefault("headers", {})["Retry-After"] = {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 0},
            }


def _link_created_items(paths: dict[str, Any]) -> None:
    """OpenAPI links from each create (a 201 at ``…/things``) to the operations on the
    item it made (``…/things/{thing_id}``): the new ``id`` fills the last parameter and
    the create's own path parameters the others. Clients and stateful fuzzers follow
    them to chain a create with its reads, updates and deletes."""
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = {}
        for child, child_item in paths.items():
            match = re.fullmatch(re.escape(path) + r"/\{(\w+)\}", child)
            # Items addressed by something other than their id (an artifact's name)
            # are left unlinked.
            if match is None or not match.group(1).endswith(("_id", "_ref")):
                continue
            inherited = re.findall(r"\{(\w+)\}", path)
            parameters = {name: f"$request.path.{name}" for name in inherited}
            parameters[match.group(1)] = "$response.body#/id"
            for method in METHODS:
                operation = child_item.get(method)
                if operation and "operationId" in operation:
                    links[operation["operationId"]] = {
                        "operationId": operation["operationId"],
                        "parameters": dict(parameters),
                    }
        if links:
            created["links"] = links


def _is_problem(status: str, response: dict[str, Any]) -> bool:
    """Whether the node answers this status with problem+json: every error except those
    a route documents with its own media type (the OAuth endpoints' RFC 6749 errors)."""
    if status[:1] not in ("4", "5"):
        return False
    content = response.get("content")
    if not content:
        return True
    if PROBLEM_MEDIA_TYPE in content:
        return True
    schema = content.get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").rsplit("/", 1)[-1] in ("Problem", "HTTPValidationError")


def _keys_match_their_pattern(schema: dict[str, Any]) -> None:
    """A ``dict`` whose key type has a pattern (language tags) refuses any other key;
    pydantic describes that as ``patternProperties``, which lets other keys through.
    Say it as ``propertyNames`` instead, which is what the node enforces."""
    patterns = schema.get("patternProperties")
    if not patterns or len(patterns) != 1 or "properties" in schema:
        return
    ((pattern, values),) = patterns.items()
    del schema["patternProperties"]
    schema["additionalProperties"] = values
    schema.setdefault("propertyNames", {})["pattern"] = pattern


def _walk(schema: object, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(schema, dict):
        visit(schema)
        for value in schema.values():
            _walk(value, visit)
    elif isinstance(schema, list):
        for value in schema:
            _walk(value, visit)


def _drop_unused(document: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    text = repr(document.get("paths", {})) + repr(
        {k: v for k, v in schemas.items() if k not in names}
    )
    for name in names:
        if f"#/components/schemas/{name}'" not in text:
            schemas.pop(name, None)
