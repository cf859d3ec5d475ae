"""What `new-resource` is asked for: a resource name and its fields, checked.

Everything here is refused before a single file is written, with a message
that names the bad part and what is allowed.
"""

import builtins
import keyword
import re
from dataclasses import dataclass, replace


class ScaffoldError(Exception):
    """A request the command refuses; the message says why and what to do."""


@dataclass(frozen=True)
class FieldType:
    annotation: str  # the table's Python type
    schema_annotation: str  # the request/response schemas' type (stricter where needed)
    column: str  # SQLAlchemy type, in the table module
    migration: str  # the same type, in the migration (sa.*)
    constraints: str  # request validation (Field arguments)
    samples: tuple[object, object]  # two JSON values the generated tests send


# fmt: off
FIELD_TYPES = {
    "str": FieldType(
        "str", "DbStr", "String(200)", "sa.String(200)",
        "min_length=1, max_length=200", ("First", "Second"),
    ),
    "text": FieldType(
        "str", "DbStr", "Text", "sa.Text",
        "max_length=10_000", ("Some words", "Other words"),
    ),
    "int": FieldType(
        "int", "Int32", "Integer", "sa.Integer", "", (7, 42),
    ),
    "float": FieldType(
        "float", "FiniteNumber", "Float", "sa.Float", "", (1.5, 2.25),
    ),
    "bool": FieldType("bool", "StrictBool", "Boolean", "sa.Boolean", "", (True, False)),
    "decimal": FieldType(
        "Decimal", "Amount", "Numeric(12, 2)", "sa.Numeric(12, 2)",
        "", ("12.50", "99.99"),
    ),
    "date": FieldType("date", "IsoDate", "Date", "sa.Date", "", ("2030-01-31", "2031-02-28")),
    "datetime": FieldType(
        "datetime", "UtcDatetime", "UTCDateTime", "sa.DateTime(timezone=True)", "",
        ("2030-01-31T09:30:00Z", "2031-02-28T17:00:00Z"),
    ),
}
# fmt: on
# NAME:enum[a,b,c]: one of the values given, as a StrEnum of its own, a
# column with a CHECK constraint, and a filter of the lists (with its index).
ENUM = "enum"
_ENUM_TYPE = re.compile(r"enum\[(?P<values>[^\]]*)\]")
_ENUM_VALUE = re.compile(r"[a-z][a-z0-9_]*")
TYPE_NAMES = ", ".join([*FIELD_TYPES, "enum[A,B,...]"])
# Classes the resource module defines: an enum's class (Name + Field) cannot be one.
_OWN_CLASSES = {"Create", "Read", "Update", "Sort", "Filters"}

# Columns every resource has; a field cannot take their names.
_OWN_COLUMNS = {"id", "user_id", "created_at", "updated_at"}
# Attributes of SQLModel/pydantic models that a field would shadow.
_MODEL_ATTRIBUTES = {"metadata", "registry"}
# Names the generated modules use themselves: a resource named like this would
# shadow a parameter or an import of its own router.
# fmt: off
_ROUTER_NAMES = {
    "body", "created_links", "filters", "format", "given", "matching", "order", "page", "reader",
    "request", "router", "row", "rows", "session", "sort", "stmt", "values",
}
_ROUTER_CLASSES = {
    "AdminUser", "Annotated", "Any", "AnySelect", "APIRouter", "CheckConstraint", "Column",
    "CurrentUser", "ExportFormat", "Field", "Filters", "OwnerFilter", "Page", "PageParamsDep", "Query", "ReaderDep", "Request",
    "ResourceId", "Response", "RowsJSONResponse", "SessionDep", "SortKey", "SQLModel",
    "StreamingResponse", "StrEnum",
}
# fmt: on
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
_SNAKE_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    optional: bool
    choices: tuple[str, ...] = ()  # an enum's values
    enum_class: str = ""  # an enum's class: the resource's name and the field's

    @property
    def kind(self) -> FieldType:
        if self.type != ENUM:
            return FIELD_TYPES[self.type]
        length = max(len(choice) for choice in self.choices)
        return FieldType(
            self.enum_class, self.enum_class, f"String({length})", f"sa.String({length})", "",
            (self.choices[0], self.choices[1]),
        )  # fmt: skip


@dataclass(frozen=True)
class ResourceSpec:
    name: str  # the table class: Room
    snake: str  # one row: room
    plural: str  # module, table, URL and tag: rooms
    fields: tuple[FieldSpec, ...]
    owned: bool

    @property
    def title(self) -> str:
        return self.plural.replace("_", " ")

    @property
    def url(self) -> str:
        return "/" + self.plural.replace("_", "-")

    @property
    def enums(self) -> list[FieldSpec]:
        return [field for field in self.fields if field.type == ENUM]

    @property
    def filters(self) -> list[str]:
        """The columns the generated lists filter on: for owned rows the
        owner's id (the owner's own list, and `user_id` on the administrators'),
        and each enum field."""
        return [*(["user_id"] if self.owned else []), *(field.name for field in self.enums)]

    @property
    def routers(self) -> list[tuple[str, str]]:
        """(URL prefix, module in routers/) of each router: owned rows have a
        second one, with every user's rows, for administrators."""
        routers = [(self.url, self.plural)]
        if self.owned:
            routers.append((f"/admin{self.url}", f"admin_{self.plural}"))
        return routers


def snake_case(name: str) -> str:
    """RoomType -> room_type, HTTPLog -> http_log."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def pluralize(word: str) -> str:
    """English regular plurals; irregular ones are given with --plural."""
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def parse_resource(
    name: str, fields: list[str], *, owned: bool, plural: str | None = None
) -> ResourceSpec:
    _check_class_name(name)
    snake = snake_case(name)
    _check_python_name(snake, f"resource name {name!r} gives the variable name {snake!r}")
    if snake in _ROUTER_NAMES:
        raise ScaffoldError(
            f"resource name {name!r}: its variable name {snake!r} is used by the generated "
            "router itself; choose another name"
        )
    plural = plural if plural is not None else pluralize(snake)
    if not _SNAKE_NAME.fullmatch(plural):
        raise ScaffoldError(
            f"--plural {plural!r} must be lowercase letters, digits and underscores, "
            "starting with a letter (like rooms or room_types)"
        )
    _check_python_name(plural, f"--plural {plural!r}")
    if not fields:
        raise ScaffoldError("give at least one --field NAME:TYPE, for example --field name:str")
    parsed = tuple(_named_enum(name, parse_field(text)) for text in fields)
    seen: set[str] = set()
    for field in parsed:
        if field.name in seen:
            raise ScaffoldError(f"field {field.name!r} is given twice")
        seen.add(field.name)
    return ResourceSpec(name, snake, plural, parsed, owned)


def _named_enum(resource: str, field: FieldSpec) -> FieldSpec:
    if field.type != ENUM:
        return field
    camel = "".join(part.capitalize() for part in field.name.split("_"))
    if camel in _OWN_CLASSES:
        raise ScaffoldError(
            f"--field {field.name!r}: an enum's class would be {resource}{camel}, a class the "
            "resource module defines already; choose another name"
        )
    return replace(field, enum_class=resource + camel)


def parse_field(text: str) -> FieldSpec:
    """NAME:TYPE, or NAME:TYPE? for a field that may be left out (null)."""
    name, colon, kind = text.partition(":")
    if not colon:
        raise ScaffoldError(
            f"--field {text!r} must be NAME:TYPE (TYPE one of {TYPE_NAMES}; "
            "add ? for an optional field, as in notes:text?)"
        )
    optional = kind.endswith("?")
    kind = kind.removesuffix("?")
    choices: tuple[str, ...] = ()
    if enum := _ENUM_TYPE.fullmatch(kind):
        kind, choices = ENUM, _enum_values(text, enum["values"])
    elif kind not in FIELD_TYPES:
        raise ScaffoldError(f"--field {text!r}: unknown type {kind!r}; use one of {TYPE_NAMES}")
    if not _SNAKE_NAME.fullmatch(name):
        raise ScaffoldError(
            f"--field {text!r}: the name must be lowercase letters, digits and underscores, "
            "starting with a letter"
        )
    if name in _OWN_COLUMNS or name in _MODEL_ATTRIBUTES or name.startswith("model_"):
        reserved = ", ".join(sorted(_OWN_COLUMNS | _MODEL_ATTRIBUTES))
        raise ScaffoldError(
            f"--field {text!r}: {name!r} is reserved ({reserved} and model_* are taken)"
        )
    _check_python_name(name, f"--field {text!r}: the name {name!r}")
    return FieldSpec(name, kind, optional, choices)


def _enum_values(text: str, values: str) -> tuple[str, ...]:
    choices = tuple(value.strip() for value in values.split(","))
    if len(choices) < 2:
        raise ScaffoldError(f"--field {text!r}: an enum needs two values or more, as enum[a,b]")
    for value in choices:
        if not _ENUM_VALUE.fullmatch(value) or keyword.iskeyword(value):
            raise ScaffoldError(
                f"--field {text!r}: the value {value!r} must be lowercase letters, digits and "
                "underscores, starting with a letter, and not a Python keyword"
            )
    if len(set(choices)) != len(choices):
        raise ScaffoldError(f"--field {text!r}: a value is given twice")
    return choices


def _check_class_name(name: str) -> None:
    if not _CLASS_NAME.fullmatch(name):
        raise ScaffoldError(
            f"resource name {name!r} is not a class name: use letters and digits, "
            "starting with a capital letter, like Room or RoomType"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"resource name {name!r} is a Python keyword")
    if name in _ROUTER_CLASSES or hasattr(builtins, name):
        raise ScaffoldError(
            f"resource name {name!r} would shadow a name the generated code imports or a "
            "Python built-in; choose another name"
        )


def _check_python_name(name: str, what: str) -> None:
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"{what}, which is a Python keyword; choose another name")
    if hasattr(builtins, name):
        raise ScaffoldError(f"{what}, which is a Python built-in; choose another name")
