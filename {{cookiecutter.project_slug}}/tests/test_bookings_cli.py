"""The example's `seed` command, run as users run it: in a subprocess."""

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from {{ cookiecutter.project_slug }}.models import User
from {{ cookiecutter.project_slug }}.resources.bookings import Booking
from {{ cookiecutter.project_slug }}.resources.venues import Venue

from tests.test_cli import cli, run

pytestmark = pytest.mark.anyio


def test_database_errors_say_where_the_database_is_configured(tmp_path):
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    result = run(empty, "seed", "--bookings", "1")
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and ".env" in result.stderr


def test_every_option_has_help_and_its_default(database_url):
    text = cli(database_url, "seed", "--help").stdout
    for option in ("--users", "--bookings", "--venues"):
        line = next(line for line in text.splitlines() if line.strip().startswith(option))
        assert "(default:" in line, line


async def test_seed_tops_up_to_the_requested_counts(app, database_url):
    cli(database_url, "seed", "--users", "20", "--bookings", "3000", "--venues", "5")
    second = cli(database_url, "seed", "--users", "20", "--bookings", "3000", "--venues", "5")
    assert "0 bookings added" in second.stdout
    async with app.state.sessionmaker() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert (await count(User), await count(Venue), await count(Booking)) == (20, 5, 3000)
        owners = await session.scalar(select(func.count(func.distinct(Booking.user_id))))
        assert owners == 20
        lengths = (
            await session.execute(select(col(Booking.title), col(Booking.notes)).limit(50))
        ).all()
    assert all(30 <= len(title) <= 40 and 150 <= len(notes) <= 200 for title, notes in lengths)


def test_bad_arguments_exit_with_usage(database_url):
    result = run(database_url, "seed", "--users", "x")
    assert result.returncode == 2
    assert "usage:" in result.stderr
