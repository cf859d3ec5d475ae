"""One module per resource: its table, schemas, list orders and shared queries.

The example's (bookings, venues) and those `new-resource` adds have the same
shape. Their routers are in routers/, their migrations in migrations/versions/.
"""

import importlib
import pkgutil


def import_tables() -> None:
    """Import every resource module, so that its table is in SQLModel.metadata."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
