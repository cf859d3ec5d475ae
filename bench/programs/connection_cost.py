"""What an open database connection costs the worker: the service's own
engine opens CONNECTIONS connections at once in this fresh process (after a
warm-up connection pays the imports and the handshake code); prints the RSS
growth per connection, in KiB.

    python connection_cost.py SLUG URL CONNECTIONS SSL_MODE [ROOT_CERT]
"""

import asyncio
import importlib
import sys
from pathlib import Path


def rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


async def main(slug: str, url: str, connections: int, tls: dict) -> None:
    create_engine = importlib.import_module(f"{slug}.db").create_engine
    load_settings = importlib.import_module(f"{slug}.settings").load_settings
    settings = load_settings(
        database_url=url, _env_file=None, db_pool_size=connections, db_max_overflow=0, **tls
    )
    engine = create_engine(settings)
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    await engine.dispose()
    before = rss_kib()
    opened = [await engine.connect() for _ in range(connections)]
    for conn in opened:
        await conn.exec_driver_sql("SELECT 1")
    print((rss_kib() - before) / connections)
    for conn in opened:
        await conn.close()
    await engine.dispose()


if __name__ == "__main__":
    slug, url, connections, ssl_mode, *root_cert = sys.argv[1:]
    tls = {"db_ssl_mode": ssl_mode}
    if root_cert:
        tls["db_ssl_root_cert"] = root_cert[0]
    asyncio.run(main(slug, url, int(connections), tls))
