"""Alembic environment: runs migrations on the service's async engine."""

import asyncio
import logging.config
from collections.abc import Collection, Mapping
from typing import Any, Literal

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection, MetaData, TypeDecorator
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.project_slug }} import models, resources
from {{ cookiecutter.project_slug }}.db import migration_connect_args
from {{ cookiecutter.project_slug }}.settings import get_settings

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # The tables as the code declares them, for `alembic revision --autogenerate`
        # and `alembic check`; `upgrade` runs the frozen migration files only.
        target_metadata=_metadata(),
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=_record,
    )
    with context.begin_transaction():
        context.run_migrations()


def _metadata() -> MetaData:
    """Every table the code declares: those of models.py and each resource's,
    all in SQLModel's one MetaData (any table's `metadata`)."""
    resources.import_tables()
    return models.User.metadata


def _render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """A column type of the code's own (UTCDateTime, SQLModel's AutoString) is
    written into a new revision as the plain SQLAlchemy type it stores as: a
    migration must not import the code it migrates."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__ == "sqlalchemy.sql.sqltypes":
            return f"sa.{impl!r}"
    return False  # alembic's own rendering


def _record(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    # Alembic passes these by keyword. The revisions applied, for `migrate` to report.
    config.attributes.setdefault("applied", []).append(step.up_revision_id)


async def _run_online() -> None:
    url = _url()
    # The service's TLS and statement-cache settings (PgBouncer needs the latter).
    settings = get_settings()
    connect_args = migration_connect_args(settings) if url.startswith("postgresql") else {}
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
