"""Alembic environment: runs migrations on the service's async engine."""

import asyncio
import logging.config
from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.project_slug }}.db import tls_context
from {{ cookiecutter.project_slug }}.settings import get_settings

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def _run(connection: Connection) -> None:
    # No target_metadata: migrations are written by hand and frozen, never
    # generated from the models at run time.
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=_record,
    )
    with context.begin_transaction():
        context.run_migrations()


def _record(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    # Alembic passes these by keyword. The revisions applied, for `migrate` to report.
    config.attributes.setdefault("applied", []).append(step.up_revision_id)


async def _run_online() -> None:
    url = _url()
    # Migrations reach the database over the same TLS settings as the service.
    connect_args = {"ssl": tls_context(get_settings())} if url.startswith("postgresql") else {}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
