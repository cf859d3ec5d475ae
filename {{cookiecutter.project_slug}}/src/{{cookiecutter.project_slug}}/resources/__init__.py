"""Resources added with `new-resource`: one module per resource (table, schemas, list orders).

Their routers are in routers/, their migrations in migrations/versions/.
"""

import importlib
import pkgutil


def import_tables() -> None:
    """Import every resource module, so that its table is in SQLModel.metadata."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
