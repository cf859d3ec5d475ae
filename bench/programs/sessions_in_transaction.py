"""How many other sessions of the database are inside a transaction (running
a statement, or idle in one): what a stalled export would hold open.

python sessions_in_transaction.py        (DATABASE_URL from the environment)
"""

import asyncio
import os

import asyncpg

QUERY = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND (state = 'active' OR state LIKE 'idle in transaction%')
"""


async def main() -> None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"].replace("+asyncpg", ""))
    print(await conn.fetchval(QUERY))
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
