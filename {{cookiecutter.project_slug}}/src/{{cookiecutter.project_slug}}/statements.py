"""The types shared by every module that builds or runs SQL statements."""

from collections.abc import Mapping
from typing import Any, TypeAlias

from sqlalchemy import Select

# A SELECT of any columns (SQLAlchemy types a statement by the columns it selects).
AnySelect: TypeAlias = Select[*tuple[Any, ...]]
# The values of a statement's bound parameters, by name (see reads.py).
Values: TypeAlias = Mapping[str, Any]
NO_VALUES: Values = {}
