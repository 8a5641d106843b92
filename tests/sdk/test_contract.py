"""The SDK held to the node's OpenAPI document.

Every operation in ``lumbung_client._routes.ROUTES`` must exist on the server with the
same method, query parameters and headers; every field an SDK response model declares
must be in the server's response schema with types the model accepts; every field an
SDK request model can send must be accepted by the server's request schema, and every
field the server requires must be required by the SDK too. A server change that would
break the SDK fails here.

This is the one SDK test that imports the server package: the SDK itself never does.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import lumbung_client
from lumbung_client._async import _catalog as async_catalog
from lumbung_client._routes import ROUTES, Route
from lumbung_client._sync import _catalog as sync_catalog
from registry.app import create_app
from registry.settings import load_settings


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir = tmp_path_factory.mktemp("contract-node")
    app = create_app(load_settings(data_dir=data_dir, base_url="http://contract.test"))
    document: dict[str, Any] = app.openapi()
    app.state.engine.dispose()
    return document


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _operation(spec: dict[str, Any], name: str, route: Route) -> dict[str, Any]:
    paths = {_template(p): item for p, item in spec["paths"].items()}
    item = paths.get(_template(route.path))
    if item is None or route.method.lower() not in item:
        pytest.fail(f"{name}: the node has no {route.method} {route.path}")
    operation: dict[str, Any] = item[route.method.lower()]
    return operation


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/components/schemas/"), ref
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _types(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema admits ("any" when it does not say)."""
    schema = _resolve(spec, schema)
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return set().union(*(_types(spec, s) for s in schema[combinator]))
    if "allOf" in schema:
        return set.intersection(*(_types(spec, s) for s in schema["allOf"]))
    if "type" in schema:
        kind = schema["type"]
        return set(kind) if isinstance(kind, list) else {kind}
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    if "const" in schema:
        return {_json_type(schema["const"])}
    return {"any"}


def _json_type(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        type(None): "null",
        list: "array",
        dict: "object",
    }[type(value)]


def _covers(accepting: set[str], sent: set[str]) -> bool:
    """Whether every value of the ``sent`` types is admitted by ``accepting``.

    A server field whose schema names no type cannot be checked; the field must still
    exist, and the live tests check its values.
    """
    if "any" in accepting or "any" in sent:
        return True
    widened = accepting | ({"integer"} if "number" in accepting else set())
    return sent <= widened


def _model_schema(model: type[BaseModel], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's JSON schema, with ``$defs`` references rewritten so ``_resolve``
    finds them in the returned pseudo-document."""
    schema = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    rewritten = json.loads(json.dumps(schema).replace("#/$defs/", "#/components/schemas/"))
    return rewritten, {"components": {"schemas": rewritten.get("$defs", {})}}


def _response_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    for status in ("200", "201"):
        if status in operation["responses"]:
            content = operation["responses"][status].get("content", {})
            return _resolve(spec, content["application/json"]["schema"])
    pytest.fail(f"no 200/201 response in {operation.get('operationId')}")


def _request_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        pytest.fail(f"{operation.get('operationId')} takes no JSON body")
    return _resolve(spec, content["application/json"]["schema"])


def _check_response_model(
    spec: dict[str, Any], server: dict[str, Any], model: type[BaseModel], where: str
) -> None:
    ours, defs = _model_schema(model, "validation")
    server_props = server.get("properties", {})
    problems = []
    for name, prop in ours.get("properties", {}).items():
        if name not in server_props:
            problems.append(f"{where}.{name}: not in the server's response")
            continue
        if name not in server.get("required", []) and name in ours.get("required", []):
            problems.append(f"{where}.{name}: the server may omit it, the SDK requires it")
        sent = _types(spec, server_props[name])
        accepted = _types(defs, prop)
        if not _covers(accepted, sent):
            problems.append(
                f"{where}.{name}: server sends {sorted(sent)}, SDK takes {sorted(accepted)}"
            )
        # Nested objects: compare their fields too.
        nested_server = _object_schema(spec, server_props[name])
        nested_ours = _object_model(model, name)
        if nested_server is not None and nested_ours is not None:
            _check_response_model(spec, nested_server, nested_ours, f"{where}.{name}")
    assert not problems, "\n".join(problems)


def _object_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    schema = _resolve(spec, schema)
    for option in schema.get("anyOf", []):
        resolved = _resolve(spec, option)
        if "properties" in resolved:
            return resolved
        if resolved.get("type") == "array":
            return _object_schema(spec, resolved.get("items", {}))
        if resolved.get("type") == "object" and "additionalProperties" in resolved:
            extra = resolved["additionalProperties"]
            if isinstance(extra, dict):
                return _object_schema(spec, extra)
    if schema.get("type") == "array":
        return _object_schema(spec, schema.get("items", {}))
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        return _object_schema(spec, schema["additionalProperties"])
    return schema if "properties" in schema else None


def _object_model(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    by_alias = {(info.alias or name): name for name, info in model.model_fields.items()}
    annotation = model.model_fields[by_alias[field]].annotation
    stack = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        stack.extend(getattr(current, "__args__", ()))
    return None


def _check_request_model(
    spec: dict[str, Any], server: dict[str, Any], model: type[BaseModel], where: str
) -> None:
    ours, defs = _model_schema(model, "serialization")
    server_props = server.get("properties", {})
    problems = []
    for name, prop in ours.get("properties", {}).items():
        if name not in server_props:
            problems.append(f"{where}.{name}: the server does not accept this field")
            continue
        sent = _types(defs, prop)
        accepted = _types(spec, server_props[name])
        # null is left out: the SDK only sends it for a field the caller set to None.
        if not _covers(accepted, sent - {"null"}):
            problems.append(
                f"{where}.{name}: SDK sends {sorted(sent)}, server takes {sorted(accepted)}"
            )
        nested_server = _object_schema(spec, server_props[name])
        nested_ours = _object_model(model, name)
        if nested_server is not None and nested_ours is not None:
            _check_request_model(spec, nested_server, nested_ours, f"{where}.{name}")
    for name in server.get("required", []):
        if name not in ours.get("required", []):
            problems.append(f"{where}.{name}: required by the server, optional in the SDK")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_exists_with_its_parameters(spec: dict[str, Any], name: str) -> None:
    route = ROUTES[name]
    operation = _operation(spec, name, route)
    params = operation.get("parameters", [])
    query = {p["name"] for p in params if p["in"] == "query"}
    headers = {p["name"].lower() for p in params if p["in"] == "header"}
    assert set(route.query) <= query, f"{name}: unknown query parameters"
    assert {h.lower() for h in route.headers} <= headers, f"{name}: unknown headers"
    path_params = [p["name"] for p in params if p["in"] == "path"]
    assert len(path_params) == route.path.count("{"), f"{name}: path parameters differ"


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.response))
def test_response_models_match(spec: dict[str, Any], name: str) -> None:
    route = ROUTES[name]
    operation = _operation(spec, name, route)
    schema = _response_schema(spec, operation)
    assert route.response is not None
    if route.paged:
        props = schema["properties"]
        assert route.items_key in props, f"{name}: not a page"
        assert "next_cursor" in props, f"{name}: page without next_cursor"
        if route.page is not None:
            _check_response_model(spec, schema, route.page, route.page.__name__)
        schema = _resolve(spec, props[route.items_key]["items"])
    elif route.listed:
        assert schema.get("type") == "array", f"{name}: not a list"
        schema = _resolve(spec, schema["items"])
    _check_response_model(spec, schema, route.response, route.response.__name__)


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.request))
def test_request_models_match(spec: dict[str, Any], name: str) -> None:
    route = ROUTES[name]
    operation = _operation(spec, name, route)
    assert route.request is not None
    _check_request_model(
        spec, _request_schema(spec, operation), route.request, route.request.__name__
    )


def test_problem_details_carry_what_the_sdk_reads(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    field_error = _object_schema(spec, problem["properties"]["errors"])
    assert field_error is not None
    assert {"loc", "msg"} <= set(field_error["properties"])


def test_oauth_endpoints_the_sdk_uses(spec: dict[str, Any]) -> None:
    assert "post" in spec["paths"]["/oauth/token"]
    metadata = _response_schema(
        spec, spec["paths"]["/.well-known/oauth-authorization-server"]["get"]
    )
    assert "issuer" in metadata["properties"]
    token = _response_schema(spec, spec["paths"]["/oauth/token"]["post"])
    assert {"access_token", "expires_in"} <= set(token["properties"])


@pytest.mark.parametrize("module", [sync_catalog, async_catalog])
def test_list_methods_send_only_declared_filters(module: Any) -> None:
    """The keyword arguments of each ``list`` are exactly the route's query parameters."""
    for resource in ("Publishers", "Apps", "Datasets"):
        cls = getattr(module, resource if module is sync_catalog else f"Async{resource}")
        route = ROUTES[f"{resource.lower()}.list"]
        params = inspect.signature(cls.list).parameters
        keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        assert keywords == set(route.query), resource


@pytest.mark.parametrize("cls", [lumbung_client.Client, lumbung_client.AsyncClient])
def test_search_sends_only_declared_filters(
    cls: type[lumbung_client.Client] | type[lumbung_client.AsyncClient],
) -> None:
    params = inspect.signature(cls.search).parameters
    names = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    assert names - {"self"} == set(ROUTES["search"].query)


def test_every_public_name_is_documented() -> None:
    for name in lumbung_client.__all__:
        obj = getattr(lumbung_client, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(obj), f"{name} has no docstring"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member):
                    assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_the_sdk_never_imports_the_server() -> None:
    package = Path(lumbung_client.__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(from|import) registry\b", text, re.M), source
