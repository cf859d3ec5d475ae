"""The text of each file `new-resource` writes, from the templates beside this module.

string.Template ($name) rather than Jinja: these files pass through the
project template's own Jinja rendering first, which would consume Jinja
syntax; the service needs no template engine; and `$` never appears in
the Python these templates hold.
"""

from pathlib import Path
from string import Template

from .spec import FieldSpec, ResourceSpec

TEMPLATES = Path(__file__).parent / "templates"
INDENT = " " * 4


def _template(*names: str) -> Template:
    """The named template files, one after the other."""
    return Template("".join((TEMPLATES / name).read_text(encoding="utf-8") for name in names))


def _common(spec: ResourceSpec) -> dict[str, str]:
    return {
        "Name": spec.name,
        "NAME": spec.snake.upper(),
        "snake": spec.snake,
        "plural": spec.plural,
        "url": spec.url,
        "tag": spec.url.removeprefix("/"),
        # The resource part of its operationIds (openapi.operation_ids).
        "operation_prefix": spec.url.strip("/").replace("/", "_").replace("-", "_"),
        "title": spec.title,
        "Title": spec.title.capitalize(),
    }


def indexes(spec: ResourceSpec) -> list[list[str]]:
    """The columns of each index the lists read: the list order (created_at,
    id) behind each column a list filters on (spec.filters), behind the owner
    and each enum field together (the owner's own list, filtered), and alone
    for the list of every row, so each page, filtered or not, is one range of
    an index, read in order, never a sort of the table.
    tests/test_list_filters.py holds every filter of the project's lists to this."""
    order = ["created_at", "id"]
    owners = [["user_id", field.name] for field in spec.enums] if spec.owned else []
    return [
        *([column, *order] for column in spec.filters),
        *([*pair, *order] for pair in owners),
        order,
    ]


def index_name(spec: ResourceSpec, columns: list[str]) -> str:
    return f"ix_{spec.plural}_{'_'.join(columns)}"


# ---------------------------------------------------------------- table module


def _table_field(field: FieldSpec) -> str:
    kind = field.kind
    annotation = f"{kind.annotation} | None" if field.optional else kind.annotation
    column = f"Column({kind.column}, nullable={field.optional})"
    default = "default=None, " if field.optional else ""
    return f"{INDENT}{field.name}: {annotation} = Field({default}sa_column={column})"


def _schema_field(field: FieldSpec, *, partial: bool) -> str:
    # In a partial update every field may be left out, but only an optional
    # one may be null: the annotation says null only where the server takes it.
    kind = field.kind
    optional = field.optional or partial
    annotation = f"{kind.schema_annotation} | None" if field.optional else kind.schema_annotation
    arguments = ", ".join(filter(None, ["default=None" if optional else "", kind.constraints]))
    if not arguments:
        return f"{INDENT}{field.name}: {annotation}"
    if arguments == "default=None" and field.optional:
        return f"{INDENT}{field.name}: {annotation} = None"
    # Field(default=None), not `= None`, where the annotation has no None (a
    # partial update's required field): type checkers accept only the former.
    return f"{INDENT}{field.name}: {annotation} = Field({arguments})"


def _imports(spec: ResourceSpec) -> str:
    """The table module's imports, only those its fields use, in ruff's order."""
    kinds = [field.kind for field in spec.fields]
    annotations = {kind.annotation for kind in kinds}
    schema_types = {kind.schema_annotation for kind in kinds}
    constraints = " ".join(kind.constraints for kind in kinds)
    columns = {kind.column.partition("(")[0] for kind in kinds} - {"UTCDateTime"} | {"Index"}
    if spec.enums:
        columns.add("CheckConstraint")
    if spec.owned:
        columns |= {"ForeignKey", "Integer"}
    dates = "date, datetime" if "date" in annotations else "datetime"
    lines = [f"from datetime import {dates}"]
    if "Decimal" in annotations:
        lines.append("from decimal import Decimal")
    lines += ["from enum import StrEnum", ""]
    if "StrictBool" in schema_types:
        lines.append("from pydantic import StrictBool")
    if columns:
        lines.append(f"from sqlalchemy import {', '.join(sorted(columns))}")
    lines += ["from sqlmodel import Column, Field, SQLModel", ""]
    # Constants first, then classes, then functions: isort's order by type.
    own = [name for name in ("MAX_ID", "MIN_INT") if name in constraints]
    own += ["SQLITE_NO_REUSE", "PartialUpdate", "UTCDateTime", "utcnow"]
    lines += [f"from ..models import {', '.join(own)}", "from ..pagination import SortKey"]
    if checked := sorted(
        schema_types & {"Amount", "DbStr", "FiniteNumber", "Int32", "IsoDate", "UtcDatetime"}
    ):
        lines.append(f"from ..schema_types import {', '.join(checked)}")
    return "\n".join(lines)


def resource_module(spec: ResourceSpec) -> str:
    table_fields = [_table_field(field) for field in spec.fields]
    if spec.owned:
        table_fields.insert(
            0,
            f"{INDENT}user_id: int = Field(\n"
            f'{INDENT * 2}sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), '
            "nullable=False)\n"
            f"{INDENT})",
        )
    nullable = {field.name for field in spec.fields if field.optional}
    return _template("resource.py.tmpl").substitute(
        _common(spec),
        imports=_imports(spec),
        enums="".join(_enum_class(field) for field in spec.enums),
        indexes="\n".join(
            [
                *(
                    f"{INDENT * 2}Index({_literal(index_name(spec, columns))}, "
                    f"{', '.join(_literal(column) for column in columns)}),"
                    for columns in indexes(spec)
                ),
                *(f"{INDENT * 2}{_check(spec, field)}," for field in spec.enums),
            ]
        ),
        filter_fields="\n".join(
            f"{INDENT}{field.name}: {field.enum_class} | None = None" for field in spec.enums
        ),
        table_fields="\n".join(table_fields),
        create_fields="\n".join(_schema_field(field, partial=False) for field in spec.fields),
        update_fields="\n".join(_schema_field(field, partial=True) for field in spec.fields),
        read_fields=f"{INDENT}user_id: int\n" if spec.owned else "",
        nullable=_literal(nullable) if nullable else "",
    )


def _enum_class(field: FieldSpec) -> str:
    members = "".join(f"{INDENT}{choice} = {_literal(choice)}\n" for choice in field.choices)
    return f"\n\nclass {field.enum_class}(StrEnum):\n{members}"


def _check(spec: ResourceSpec, field: FieldSpec, module: str = "") -> str:
    """The CHECK constraint that keeps an enum column to its values (`module`:
    sa. in a migration)."""
    values = ", ".join(f"'{choice}'" for choice in field.choices)
    condition = _literal(f"{field.name} IN ({values})")
    return (
        f"{module}CheckConstraint({condition}, name={_literal(f'ck_{spec.plural}_{field.name}')})"
    )


# ---------------------------------------------------------------- router, migration, tests


def router_module(spec: ResourceSpec) -> str:
    name = "router_owned.py.tmpl" if spec.owned else "router_shared.py.tmpl"
    return _template(name).substitute(_common(spec))


def admin_router_module(spec: ResourceSpec) -> str:
    """Every user's rows, for administrators (owned resources only)."""
    return _template("router_admin.py.tmpl").substitute(_common(spec))


def migration_module(spec: ResourceSpec, revision: str, down_revision: str | None) -> str:
    columns = []
    if spec.owned:
        columns.append(
            f'{INDENT * 2}sa.Column("user_id", sa.Integer, '
            f'sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),'
        )
    for field in spec.fields:
        columns.append(
            f'{INDENT * 2}sa.Column("{field.name}", {field.kind.migration}, '
            f"nullable={field.optional}),"
        )
    columns += [f"{INDENT * 2}{_check(spec, field, 'sa.')}," for field in spec.enums]
    return _template("migration.py.tmpl").substitute(
        _common(spec),
        revision=revision,
        down_revision=down_revision or "",
        down_revision_literal=repr(down_revision).replace("'", '"'),
        migration_columns="\n".join(columns),
        create_indexes="\n".join(
            f"{INDENT}op.create_index({_literal(index_name(spec, index))}, "
            f"{_literal(spec.plural)}, {_literal(index)})"
            for index in indexes(spec)
        ),
    )


# Valid JSON the database cannot take, per field type: the tests send each
# and expect a 422 naming the field (schema_types.py).
UNSTORABLE = {
    "str": "a\x00b",
    "text": "a\x00b",
    # Python's first day and last instant: PostgreSQL would store -infinity and
    # infinity (schema_types.EARLIEST says why both are refused).
    "date": "0001-01-01",
    "datetime": "9999-12-31T23:59:59.999999Z",
}


def tests_module(spec: ResourceSpec, package: str) -> str:
    tail = "tests_owned.py.tmpl" if spec.owned else "tests_shared.py.tmpl"
    required = [field.name for field in spec.fields if not field.optional]
    return _template("tests_common.py.tmpl", tail).substitute(
        _common(spec),
        package=package,
        access="ownership" if spec.owned else "who may write",
        writer="alice" if spec.owned else "admin",
        sample_new=_literal({field.name: field.kind.samples[0] for field in spec.fields}),
        sample_changed=_literal({field.name: field.kind.samples[1] for field in spec.fields}),
        required=_literal(required),
        unstorable=_literal(
            {f.name: UNSTORABLE[f.type] for f in spec.fields if f.type in UNSTORABLE}
        ),
        indexes=_literal(indexes(spec)),
        filters=_literal({field.name: field.choices[0] for field in spec.enums}),
    )


def _literal(value: object) -> str:
    """A Python literal in the project's style (double quotes; ruff formats the rest)."""
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\x00")
        return '"' + escaped + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, set):  # sorted: the same fields give the same text
        return "{" + ", ".join(_literal(item) for item in sorted(value)) + "}"
    if isinstance(value, dict):
        items = ", ".join(f"{_literal(key)}: {_literal(item)}" for key, item in value.items())
        return "{" + items + "}"
    return repr(value)
