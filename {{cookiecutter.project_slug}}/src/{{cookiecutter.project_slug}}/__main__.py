"""Command line: migrate, serve, seed, create-user.

    python -m {{ cookiecutter.project_slug }} --help   (also installed as `{{ cookiecutter.__cli_name }}`)

argparse rather than a CLI framework: the commands are few, and start-up of
every command (and of each server worker) stays free of extra imports.
"""

import argparse
import asyncio
import sys

from .settings import Settings, SettingsError, get_settings


def _migrate(settings: Settings, _args: argparse.Namespace) -> None:
    from .migrations import upgrade

    upgrade(settings.database_url)
    print("database is at the latest revision")


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers or settings.web_concurrency,
        proxy_headers=True,
        log_level=args.log_level,
    )


async def _with_engine(settings: Settings, work):
    from .db import create_engine

    engine = create_engine(settings)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _seed(settings: Settings, args: argparse.Namespace) -> None:
    from .seed import seed

    added = asyncio.run(
        _with_engine(settings, lambda e: seed(e, args.users, args.bookings, args.venues))
    )
    print(f"seeded: {added} bookings added")


def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from .users import UserExistsError, create_user

    async def work(engine):
        return await create_user(engine, args.email, is_admin=args.admin)

    try:
        token = asyncio.run(_with_engine(settings, work))
    except (UserExistsError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    role = "administrator" if args.admin else "user"
    print(f"created {role} {args.email}; bearer token (shown only once):")
    print(token)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.__cli_name }}",
        description=__doc__.split("\n")[0],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="upgrade the database to the latest revision")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="default: WEB_CONCURRENCY")
    serve.add_argument("--log-level", default="info")

    seed = commands.add_parser("seed", help="bulk-load fake data (tops up to the counts given)")
    seed.add_argument("--users", type=int, default=1_000)
    seed.add_argument("--bookings", type=int, default=100_000)
    seed.add_argument("--venues", type=int, default=50)

    user = commands.add_parser("create-user", help="create a user and print its bearer token")
    user.add_argument("email")
    user.add_argument("--admin", action="store_true", help="grant administrator rights")
    return parser


_HANDLERS = {
    "migrate": _migrate,
    "serve": _serve,
    "seed": _seed,
    "create-user": _create_user,
}


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        sys.exit(str(exc))
    _HANDLERS[args.command](settings, args)


if __name__ == "__main__":
    main()
