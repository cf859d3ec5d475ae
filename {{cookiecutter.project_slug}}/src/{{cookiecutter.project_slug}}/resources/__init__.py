"""Resources added with `new-resource`: one module per resource (table, schemas, list orders).

Their routers are in routers/, their migrations in migrations/versions/.
"""
