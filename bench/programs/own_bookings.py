"""Give a user one booking in 50 (the caller's own list), then ANALYZE.

python own_bookings.py EMAIL        (DATABASE_URL from the environment)
"""

import asyncio
import os
import sys

import asyncpg


async def main(email: str) -> None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"].replace("+asyncpg", ""))
    await conn.execute(
        "UPDATE bookings SET user_id = (SELECT id FROM users WHERE email = $1) WHERE id % 50 = 0",
        email,
    )
    await conn.execute("ANALYZE")
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
