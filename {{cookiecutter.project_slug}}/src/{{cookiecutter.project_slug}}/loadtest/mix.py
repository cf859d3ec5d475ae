"""The load's mix, discovered from the router registry (routing.py).

Every registered router contributes what it serves: its lists (and their
next pages), its reads by id, its export of the caller's own rows, and, where
a resource can be created, updated and deleted, all three, so the tables keep
their size. A resource `new-resource` adds is in the mix with nothing to
declare. Bodies are built from the create schema's required fields.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel

from ..pagination import Page
from ..routing import RESOURCE_ROUTERS, import_router

ADMIN_PREFIX = "/admin"  # routers only administrators may call
# Account routes: logins and sign-ups would measure argon2 and fill the users table.
SKIPPED = ("/auth", "/users")


@dataclass
class Resource:
    """What the load does under one registered prefix (paths under API_PREFIX)."""

    prefix: str
    admin: bool
    lists: list[str] = field(default_factory=list)
    item: str | None = None  # the item path, with {id} for the row's id
    item_methods: set[str] = field(default_factory=set)
    export: str | None = None
    create: type[BaseModel] | None = None  # the body schema of POST, when writable
    update: type[BaseModel] | None = None

    @property
    def readable(self) -> bool:
        return "GET" in self.item_methods

    @property
    def writable(self) -> bool:
        return self.create is not None


def discover() -> list[Resource]:
    resources = []
    for entry in RESOURCE_ROUTERS:
        if entry.prefix.startswith(SKIPPED):
            continue
        resource = Resource(entry.prefix, entry.prefix.startswith(ADMIN_PREFIX))
        for route in import_router(entry.module).routes:
            if isinstance(route, APIRoute):
                _add(resource, route)
        if not {"GET", "PATCH", "DELETE"} <= resource.item_methods:
            resource.create = resource.update = None  # rows it cannot delete would pile up
        if resource.lists or resource.item:
            resources.append(resource)
    return resources


def _add(resource: Resource, route: APIRoute) -> None:
    path, params, methods = route.path, route.dependant.path_params, route.methods or set()
    body = _model(route)
    if len(params) == 1 and path.endswith("}"):
        resource.item = path.rsplit("/", 1)[0] + "/{id}"
        resource.item_methods |= methods
        if "PATCH" in methods:
            resource.update = body
    elif params:
        return  # below an item (an upload's content): not in the mix
    elif "GET" in methods and _is_page(route.response_model):
        resource.lists.append(path)
    elif "GET" in methods and path.endswith("/export") and not resource.admin:
        resource.export = path  # the caller's own rows: small (everyone's are not)
    elif "POST" in methods and path == resource.prefix:
        resource.create = body


def _model(route: APIRoute) -> type[BaseModel] | None:
    """The route's JSON body schema (None: no body, or a form's)."""
    body = route.body_field.field_info.annotation if route.body_field else None
    return body if isinstance(body, type) and issubclass(body, BaseModel) else None


def _is_page(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, Page)


def sample(model: type[BaseModel], rng: random.Random) -> dict[str, Any]:
    """A body with the schema's required fields; date-times an hour apart in
    the order declared (a start before its end)."""
    schema = model.model_json_schema()
    defs, body = schema.get("$defs", {}), {}
    hours = rng.randrange(24, 24 * 365)
    for name in schema.get("required", []):
        prop = _resolved(schema["properties"][name], defs)
        if prop.get("format") == "date-time":
            hours += 1
        body[name] = _value(prop, hours)
    return body


def _resolved(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The property's own schema: a reference followed; of several types, a
    number's (a decimal taken as a number or a patterned string), else the first."""
    if "$ref" in prop:
        return _resolved(defs[prop["$ref"].rsplit("/", 1)[1]], defs)
    options = [option for option in prop.get("anyOf", []) if option.get("type") != "null"]
    if options:
        numbers = [o for o in options if o.get("type") in ("integer", "number")]
        return _resolved((numbers or options)[0], defs)
    return prop


def _value(prop: dict[str, Any], hours: int) -> Any:
    if "enum" in prop:
        return prop["enum"][0]
    kind, fmt = prop.get("type"), prop.get("format")
    if fmt == "date-time":
        return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    if fmt == "date":
        return (date.today() + timedelta(days=hours // 24)).isoformat()
    if kind in ("integer", "number"):
        return min(max(prop.get("minimum", 1), 1), prop.get("maximum", 1))
    if kind == "boolean":
        return True
    text = "load test"
    return text.ljust(prop.get("minLength", 0), "x")[: prop.get("maxLength", len(text))]
