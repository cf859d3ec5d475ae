"""Alembic migrations, shipped inside the package.

They live here rather than beside the project so that an installed wheel
(for example in a slim container image) can still migrate its database.
"""

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{__package__}:.")
    if database_url:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> list[str]:
    """Upgrade to `revision`; returns the revisions applied, oldest first."""
    config = alembic_config(database_url)
    command.upgrade(config, revision)
    applied: list[str] = config.attributes.get("applied", [])
    return applied


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
