"""Create an empty database, dropping one of that name first.

    python create_database.py URL NAME      (URL: postgresql://, any database)

Run with a rendered project's interpreter, which has asyncpg.
"""

import asyncio
import sys

import asyncpg


async def main(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
