"""Every filter a list accepts is answered from an index, on SQLite and PostgreSQL.

The lists and their filters are read from the routes: each GET that answers a
Page, and its query parameters other than the page's and `sort`. So a filter
added to any list (the example's, one `new-resource` wrote, yours) is checked
without a line here. Each list is requested without and with each filter; the
conditions the filter added to the statements it ran must be conditions of an
index in their plans (EXPLAIN; EXPLAIN QUERY PLAN on SQLite), not tests of
rows already read.
"""

import contextlib
import json
import re
from collections.abc import Iterator
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from fastapi import params
from fastapi.dependencies.utils import get_dependant, get_flat_params
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Column, Select, event, text
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BinaryExpression

from {{ cookiecutter.project_slug }}.pagination import Page, page_params
from {{ cookiecutter.project_slug }}.statements import AnySelect

from tests.helpers import Explain

pytestmark = pytest.mark.anyio

# Query parameters that page or order a list; every other one filters it.
NOT_FILTERS = {field.alias for field in get_dependant(path="", call=page_params).query_params}
NOT_FILTERS.add("sort")
# Values tried in turn: a filter is sent the first it accepts (an enum: its first member).
CANDIDATES = ("2030-01-02T03:04:05Z", "2030-01-02", "1", "true", "x")
# (table, column, operator) of one condition of a statement.
Condition = tuple[str, str, str]


def list_filters(app) -> list[tuple[str, str, str]]:
    """(path, filter, a valid value) of each filter of each list route."""
    app.state.routers.load_all()
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not (isinstance(route, APIRoute) and is_page(route.response_model)):
            continue
        assert route.methods == {"GET"}, context.path_format
        for field in get_flat_params(route.dependant):
            if isinstance(field.field_info, params.Query) and field.alias not in NOT_FILTERS:
                found.append((str(context.path_format), field.alias, sample(field)))
    return found


def is_page(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, Page)


def sample(field: Any) -> str:
    """A value the query parameter `field` accepts."""
    kind = field.field_info.annotation
    while get_origin(kind) in (Annotated, Union, UnionType):
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    members = [str(member.value) for member in kind] if isinstance(kind, type(Enum)) else []
    value = next((v for v in [*members, *CANDIDATES] if not field.validate(v)[1]), None)
    assert value is not None, f"no value found for {field.alias}: add one to CANDIDATES"
    return value


def conditions(statement: AnySelect) -> set[Condition]:
    """The column comparisons anywhere in a statement (its subqueries too)."""
    found = set()
    for node in visitors.iterate(statement):
        if isinstance(node, BinaryExpression) and isinstance(node.left, Column):
            table = node.left.table.name if node.left.table is not None else ""
            found.add((table, node.left.name, node.operator.__name__))
    return found


@contextlib.contextmanager
def statements(app) -> Iterator[list[tuple[AnySelect, dict[str, Any]]]]:
    """The SELECTs the app runs while open, with the values bound to each."""
    ran: list[tuple[AnySelect, dict[str, Any]]] = []

    def record(_conn, clause, multiparams, values, _options) -> None:
        if isinstance(clause, Select):
            ran.append((clause, multiparams[0] if multiparams else values))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_execute", record)
    try:
        yield ran
    finally:
        event.remove(engine, "before_execute", record)


async def index_conditions(app, statement: AnySelect, values: dict[str, Any]) -> list[str]:
    """The conditions the plan of `statement` looks up in an index."""
    async with app.state.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            rows = (await conn.execute(Explain(statement), values)).all()
            # SEARCH bookings USING INDEX ix_... (venue_id=?)
            details = [str(row[-1]) for row in rows]
            return [d.partition("(")[2] for d in details if d.startswith("SEARCH") and "INDEX" in d]
        # A table of a few rows is read whole by PostgreSQL, whatever its
        # indexes: planned as if scans were dear, it shows which index serves.
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = (await conn.execute(Explain(statement, as_json=True), values)).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return [node["Index Cond"] for node in plan_nodes(plan[0]["Plan"]) if "Index Cond" in node]


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


async def filtered_statements(app, client, url, headers, name, value):
    """The conditions a filter adds to a list's statements, and the statements with them."""
    with statements(app) as plain:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
    with statements(app) as filtered:
        response = await client.get(url, params={name: value}, headers=headers)
        assert response.status_code == 200, response.text
    before = set().union(*(conditions(statement) for statement, _ in plain))
    added = set().union(*(conditions(statement) for statement, _ in filtered)) - before
    return added, [(s, v) for s, v in filtered if conditions(s) & added]


async def test_every_list_filter_is_an_index_condition(app, client, admin):
    filters, unserved = list_filters(app), []
    if not filters:
        pytest.skip("no list here takes a filter (new-resource --owned adds one)")
    for path, name, value in filters:
        added, ran = await filtered_statements(app, client, path, admin, name, value)
        assert added and ran, f"{path}?{name}= adds no condition to the list's statements"
        for statement, values in ran:
            looked_up = await index_conditions(app, statement, values)
            columns = {column for _table, column, _operator in added}
            if not all(any(re.search(rf"\b{c}\b", cond) for cond in looked_up) for c in columns):
                unserved.append(f"{path}?{name}: {sorted(columns)} not in {looked_up}")
    assert unserved == [], "\n".join(unserved)
