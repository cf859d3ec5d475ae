"""The OpenAPI document as clients generate code from it.

- operationIds are `<resource>_<action>` (`bookings_list`, `bookings_read`,
  `admin_bookings_export`), derived from the path and method: short, stable,
  and the same rule for resources `new-resource` adds. FastAPI's default
  (`read_booking_api_bookings__booking_id__get`) becomes method names no one
  wants to type.
- Limits read from the running settings (the largest page size) are written
  into the document, which FastAPI builds before any setting is known.
"""

from collections.abc import Callable, Iterable
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


def _set_maximum(schema: dict[str, Any], maximum: int) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "integer":
            branch["maximum"] = maximum
