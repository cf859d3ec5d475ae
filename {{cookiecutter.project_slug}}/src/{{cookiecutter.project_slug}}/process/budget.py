"""The connection budget: the most connections a deployment can open, against
what the database allows (the `check` command).

Each worker has its own pool of DB_POOL_SIZE + DB_MAX_OVERFLOW connections
(reads, writes and exports all take theirs from it), so a deployment of
`replicas` instances of `workers` workers can open

    replicas x workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW) + 1 (a migration)

and PostgreSQL admits max_connections less the connections it reserves for
superusers and (16+) for roles with pg_use_reserved_connections.
"""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# A migration job (or an operator's psql) runs beside the service.
MIGRATION_CONNECTIONS = 1


@dataclass(frozen=True)
class Plan:
    replicas: int
    workers: int
    pool_size: int
    max_overflow: int
    # Behind PgBouncer: the most server connections it opens to the database
    # (its default_pool_size or max_db_connections, times its instances).
    pooler: int | None = None

    @property
    def per_worker(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def clients(self) -> int:
        """The connections the service's pools open (to PgBouncer, if any)."""
        return self.replicas * self.workers * self.per_worker

    @property
    def connections(self) -> int:
        """What the database must admit."""
        opened = self.clients if self.pooler is None else self.pooler
        return opened + MIGRATION_CONNECTIONS

    def describe(self) -> str:
        pools = (
            f"{self.replicas} replica(s) x {self.workers} worker(s) x "
            f"(DB_POOL_SIZE {self.pool_size} + DB_MAX_OVERFLOW {self.max_overflow})"
        )
        if self.pooler is None:
            return f"{pools} + {MIGRATION_CONNECTIONS} for a migration = {self.connections} connections"
        return (
            f"{pools} = {self.clients} connections to PgBouncer, which opens at most "
            f"{self.pooler} to the database; + {MIGRATION_CONNECTIONS} for a migration = "
            f"{self.connections} connections"
        )


@dataclass(frozen=True)
class Limits:
    max_connections: int
    reserved: int

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved

    def describe(self) -> str:
        return (
            f"the database admits {self.available} "
            f"(max_connections {self.max_connections} - {self.reserved} reserved)"
        )


async def database_limits(engine: AsyncEngine) -> Limits:
    """max_connections and the reserved connections, read from the server."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_setting('max_connections')::int, "
                    "current_setting('superuser_reserved_connections')::int, "
                    # PostgreSQL 16+; NULL before it.
                    "coalesce(current_setting('reserved_connections', true), '0')::int"
                )
            )
        ).one()
    return Limits(max_connections=row[0], reserved=row[1] + row[2])


def verdict(plan: Plan, limits: Limits) -> tuple[bool, str]:
    """Whether the plan fits, and the report that says so."""
    report = f"{plan.describe()}\n{limits.describe()}"
    spare = limits.available - plan.connections
    if spare >= 0:
        return True, f"{report}: it fits, {spare} to spare"
    return False, (
        f"{report}: {-spare} too many.\n"
        "Lower the replicas, WEB_CONCURRENCY, DB_POOL_SIZE or DB_MAX_OVERFLOW, raise "
        "max_connections, or put PgBouncer in front (README: Behind PgBouncer)"
    )
