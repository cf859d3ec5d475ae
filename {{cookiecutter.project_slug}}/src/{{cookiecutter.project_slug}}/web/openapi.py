"""The OpenAPI document as clients generate code from it.

- operationIds are `<resource>_<action>` (`bookings_list`, `bookings_read`,
  `admin_bookings_export`), derived from the path and method: short, stable,
  and the same rule for resources `new-resource` adds. FastAPI's default
  (`read_booking_api_bookings__booking_id__get`) becomes method names no one
  wants to type.
- Limits read from the running settings (the largest page size) are written
  into the document, which FastAPI builds before any setting is known; so is
  what tools need beyond Swagger UI (for_tools()): a server, absolute token
  URLs, `security: []` on open routes, the license, no route a setting turns off.
"""

import posixpath
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any, cast

from fastapi.routing import APIRoute

from .path_prefix import matching_prefix

# The action of a method on a collection, and on one item of it.
_ON_COLLECTION = {"GET": "list", "POST": "create"}
_ON_ITEM = {"GET": "read", "PATCH": "update", "PUT": "replace", "DELETE": "delete"}


def operation_ids(api_prefix: str, prefixes: Iterable[str]) -> Callable[[APIRoute], str]:
    """The app's generate_unique_id_function, knowing each router's prefix."""
    known = sorted(prefixes, key=len, reverse=True)  # nested prefixes first

    def operation_id(route: APIRoute) -> str:
        path = route.path_format.removeprefix(api_prefix)
        prefix = matching_prefix(path, known)
        if prefix is None:  # outside the registry: its first segment names it
            prefix = "/" + path.strip("/").split("/")[0]
        resource = prefix.strip("/").replace("/", "_").replace("-", "_") or "root"
        methods = cast(set[str], route.methods)  # APIRoute always has them
        return f"{resource}_{_action(path[len(prefix) :], sorted(methods)[0])}"

    return operation_id


def _action(rest: str, method: str) -> str:
    parts = [part for part in rest.split("/") if part]
    literal = "_".join(part for part in parts if not part.startswith("{")).replace("-", "_")
    if parts and parts[-1].startswith("{"):
        return "_".join(filter(None, [literal, _ON_ITEM.get(method, method.lower())]))
    if not literal:
        return _ON_COLLECTION.get(method, method.lower())
    return literal if method == "GET" else f"{_ON_COLLECTION.get(method, method.lower())}_{literal}"


def created_links(
    resource: str, id_parameter: str, actions: Iterable[str] = ("read", "update", "delete")
) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a create route: OpenAPI links from the new row's id to
    the item's operations (`<resource>_<action>`: reading, updating and
    deleting it), for clients and stateful testing."""
    links = {
        action: {
            "operationId": f"{resource}_{action}",
            "parameters": {id_parameter: "$response.body#/id"},
        }
        for action in actions
    }
    return {201: {"description": "Created", "links": links}}


def document_page_size(schema: dict[str, Any], max_page_size: int) -> dict[str, Any]:
    """`page_size` parameters carry the maximum the server enforces (a setting)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "page_size" and parameter.get("in") == "query":
                    _set_maximum(parameter["schema"], max_page_size)
    return schema


def document_upload_types(schema: dict[str, Any], allowed: list[str]) -> dict[str, Any]:
    """A request body of any type ("*/*") lists the types the server accepts
    (ALLOWED_UPLOAD_TYPES), application/octet-stream first for generated
    clients that take one: a client then sends a file's own type, and a
    schema-driven one never sends a type the server refuses."""
    ordered = sorted(allowed, key=lambda media_type: media_type != "application/octet-stream")
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "*/*" in content:
                body = content["*/*"]
                content.clear()
                content.update({media_type: body for media_type in ordered})
    return schema


def _set_maximum(schema: dict[str, Any], maximum: int) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "integer":
            branch["maximum"] = maximum


# An operation's extension naming the setting that turns its route on (a
# bool); the route is left out of the document while it is off.
ENABLED_BY = "x-enabled-by"


def for_tools(
    schema: dict[str, Any], *, api_prefix: str, enabled: Callable[[str], bool]
) -> dict[str, Any]:
    """The document as generators and linters read it, not only Swagger UI.

    A relative URL resolves against the server ("/"), not the docs page: the
    token URL is given from the root. An operation without `security` is open
    (`security: []`): FastAPI writes it on every route that checks a token.
    """
    schema.setdefault("servers", [{"url": "/", "description": "This service"}])
    for scheme in schema.get("components", {}).get("securitySchemes", {}).values():
        for flow in scheme.get("flows", {}).values():
            if "tokenUrl" in flow:
                flow["tokenUrl"] = posixpath.join(api_prefix + "/", flow["tokenUrl"])
    for path, operations in list(schema.get("paths", {}).items()):
        for method, operation in list(operations.items()):
            setting = operation.pop(ENABLED_BY, None)
            if setting is not None and not enabled(setting):
                del operations[method]
            operation.setdefault("security", [])
        if not operations:
            del schema["paths"][path]
    _drop_unused_schemas(schema)
    if license := _license(__name__.split(".")[0]):
        schema["info"].setdefault("license", license)
    return schema


def _license(distribution: str) -> dict[str, str] | None:
    """The license pyproject.toml declares (an SPDX expression)."""
    try:
        expression = metadata.metadata(distribution)["License-Expression"]
    except (metadata.PackageNotFoundError, KeyError):
        return None
    return {"name": expression, "identifier": expression} if expression else None


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    """Drop the schemas only a left-out operation used."""
    schemas = schema.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = _references({key: value for key, value in schema.items() if key != "components"})
    while pending:
        name = pending.pop()
        if name not in used and name in schemas:
            used.add(name)
            pending |= _references(schemas[name])
    for name in set(schemas) - used:
        del schemas[name]


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(value) for value in node))
    return set()
