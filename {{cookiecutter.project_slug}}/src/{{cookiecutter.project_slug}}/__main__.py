"""Command line: migrate, serve, check, create-user, set-password, revoke-token, openapi,
new-resource, loadtest (and seed, with the example).

    python -m {{ cookiecutter.project_slug }} --help   (also installed as `{{ cookiecutter.__cli_name }}`)

argparse rather than a CLI framework: the commands are few, and start-up of
every command (and of each server worker) stays free of extra imports.
"""

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:  # imported by the commands that use it, not at start-up
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

PROG = "{{ cookiecutter.__cli_name }}"


def _migrate(settings: Settings, _args: argparse.Namespace) -> None:
    from .migrations import upgrade

    applied = upgrade(settings.database_url)
    if applied:
        print(f"applied {len(applied)} revision(s): {', '.join(applied)}")
    print("the database is at the latest revision")


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    if args.log_level:  # the flag wins over LOG_LEVEL, here and in gunicorn's processes
        os.environ["LOG_LEVEL"] = args.log_level
        settings = settings.model_copy(update={"log_level": args.log_level})
    from .memory.heap import DEFAULT_ARENAS, limit_arenas

    # glibc's arenas bounded here, and in gunicorn's processes (which read
    # the variable when they start).
    os.environ.setdefault("MALLOC_ARENA_MAX", str(DEFAULT_ARENAS))
    limit_arenas()
    _check_port(args.host, args.port)
    _check_schema(settings)
    workers = args.workers or settings.web_concurrency
    if workers > 1:
        _exec_gunicorn(settings, args, workers)
    import uvicorn

    from .process.serving import uvicorn_options

    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        **uvicorn_options(settings),
    )


def _check_port(host: str, port: int) -> None:
    """Bind once before starting, as the server will: a port in use is a
    message now, not an errno after the server said its start-up was complete."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            taken = " (another server is listening there)" if exc.errno == errno.EADDRINUSE else ""
            sys.exit(
                f"error: cannot listen on {host}:{port}: {exc.strerror}{taken}; "
                f"choose another port with --port, like --port {port + 1}"
            )


def _check_schema(settings: Settings) -> None:
    """Refuse to serve a database `migrate` has not brought up to date. One
    out of reach is served: readiness answers 503 until it can be reached."""
    from .process.schema import SchemaBehindError, check_schema

    try:
        asyncio.run(_with_engine(settings, check_schema))
    except SchemaBehindError as exc:
        sys.exit(f"error: {exc}")
    except Exception as exc:
        if (reason := _database_failure(exc)) is None:
            raise
        print(
            f"warning: the database cannot be reached ({reason}); serving anyway, "
            f"{settings.api_prefix}/health/ready answers 503 until it can",
            file=sys.stderr,
        )


def _exec_gunicorn(settings: Settings, args: argparse.Namespace, workers: int) -> None:
    # exec, not a child process: gunicorn's master takes this process's place
    # (and PID), so signals from a process manager or container reach it.
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--config=python:{__package__}.process.gunicorn_conf",
        f"--bind={args.host}:{args.port}",
        f"--workers={workers}",
        f"--log-level={settings.log_level}",
    ]
    sys.stdout.flush()
    os.execv(sys.executable, argv)


async def _with_engine(settings: Settings, work: "Callable[[AsyncEngine], Awaitable[T]]") -> T:
    from .db import create_engine

    engine = create_engine(settings)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _check(settings: Settings, args: argparse.Namespace) -> None:
    from .process.budget import Plan, database_limits, verdict

    workers = args.workers or settings.web_concurrency
    plan = Plan(
        args.replicas,
        workers,
        settings.db_pool_size,
        settings.db_max_overflow,
        pooler=args.pgbouncer_connections,
    )
    if settings.is_sqlite:
        print(f"{plan.describe()}\nSQLite has no connection limit: nothing to check")
        return
    fits, report = verdict(plan, asyncio.run(_with_engine(settings, database_limits)))
    if settings.db_statement_cache_size == 0 and plan.pooler is None:
        report += (
            "\n(DB_STATEMENT_CACHE_SIZE=0: behind PgBouncer, pass --pgbouncer-connections: "
            "the database then sees PgBouncer's server connections, not the pools')"
        )
    if not fits:
        sys.exit(f"error: {report}")
    print(report)
{%- if cookiecutter.example_domain == "bookings" %}


def _seed(settings: Settings, args: argparse.Namespace) -> None:
    from .seed import seed

    added = asyncio.run(
        _with_engine(settings, lambda e: seed(e, args.users, args.bookings, args.venues))
    )
    print(f"seeded: {added} bookings added")
{%- endif %}


def _read_password(prompt: str) -> str:
    """A password from a prompt that does not echo it, or from stdin when
    that is not a terminal (`... --password < file`): never from argv, which
    the shell keeps in its history and `ps` shows."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(prompt)
        if getpass.getpass("again: ") != password:
            sys.exit("error: the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        sys.exit("error: empty password")
    return password


def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from .passwords import Passwords
    from .users import UserExistsError, add_token, create_user, set_password

    password = _read_password(f"password for {args.email}: ") if args.password else None

    async def work(engine: "AsyncEngine") -> tuple[str, bool]:
        hashed = await Passwords(settings).hash(password) if password else None
        try:
            return await create_user(
                engine, args.email, is_admin=args.admin, password_hash=hashed
            ), True
        except UserExistsError:
            if not args.new_token_if_exists:
                raise
            if hashed:
                await set_password(engine, args.email, hashed)
            return await add_token(engine, args.email), False

    try:
        token, created = asyncio.run(_with_engine(settings, work))
    except UserExistsError as exc:
        sys.exit(
            f"error: {exc}; `{PROG} revoke-token {args.email} --new` replaces its token "
            "(or add --new-token-if-exists here)"
        )
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    if created:
        role = "administrator" if args.admin else "user"
        print(f"created {role} {args.email}; bearer token (shown only once):")
    else:  # its other tokens keep working; its role is left as it was
        print(f"{args.email} exists; one more bearer token, its others still work (shown once):")
    print(token)


def _set_password(settings: Settings, args: argparse.Namespace) -> None:
    """The one way to give an account without a password its first: the API
    asks for the current one, which a token alone does not know."""
    from .passwords import Passwords
    from .users import UnknownUserError, normalize_email, set_password

    password = _read_password(f"new password for {args.email}: ")

    async def work(engine: "AsyncEngine") -> None:
        await set_password(engine, args.email, await Passwords(settings).hash(password))

    try:
        asyncio.run(_with_engine(settings, work))
    except UnknownUserError as exc:
        sys.exit(f"error: {exc}")
    print(
        f"{normalize_email(args.email)} logs in with the new password; "
        f"its tokens keep working (`{PROG} revoke-token` ends them)"
    )


def _revoke_token(settings: Settings, args: argparse.Namespace) -> None:
    from .users import UnknownUserError, normalize_email, revoke_token

    try:
        token = asyncio.run(_with_engine(settings, lambda e: revoke_token(e, args.email)))
    except UnknownUserError as exc:
        sys.exit(f"error: {exc}")
    _tell_workers(settings, args.email)
    print(f"the token of {normalize_email(args.email)} no longer works")
    if args.new:
        print("new bearer token (shown only once):")
        print(token)


def _tell_workers(settings: Settings, email: str) -> None:
    """Running workers forget the user's cached tokens now (broadcast.py), not
    when their cache entries expire; without Redis there is no one to tell."""
    if not (url := settings.broadcast_redis):
        return
    from .broadcast import publish_once
    from .users import user_id_of

    try:
        user_id = asyncio.run(_with_engine(settings, lambda e: user_id_of(e, email)))
        asyncio.run(publish_once(url, "user", user_id))
    except Exception as exc:
        print(
            f"warning: running workers were not told ({exc}); they stop accepting the old "
            f"token within AUTH_CACHE_SECONDS ({settings.auth_cache_seconds} s)",
            file=sys.stderr,
        )


def _openapi(settings: Settings, args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from .app import create_app

    # Every router is loaded for the schema; DOCS_ENABLED does not matter here,
    # so production can serve without docs and still publish the schema.
    text = json.dumps(create_app(settings).openapi(), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return
    # Written beside the target, then renamed: never a half-written schema.
    target = Path(args.output)
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        sys.exit(f"error: cannot write {target}: {exc.strerror}")
    print(f"wrote {target}")


def _new_resource(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .scaffold import ScaffoldError, find_project, new_resource, parse_resource

    try:
        spec = parse_resource(args.name, args.field, owned=args.owned, plural=args.plural)
        project = find_project(Path(args.project), __package__)
        written = new_resource(project, spec)
    except ScaffoldError as exc:
        sys.exit(f"error: {exc}")
    urls = " and ".join(prefix for prefix, _ in spec.routers)
    print(f"added {spec.name}, served at API_PREFIX + {urls}:")
    for path in written:
        print(f"  {project.relative(path)}")
    print(
        f"next: `{PROG} migrate` creates its table; a server that is running serves its "
        f"routes once restarted (until then they are 404s); "
        f"`pytest tests/test_{spec.plural}.py` runs its tests"
    )


def _loadtest(settings: Settings, args: argparse.Namespace) -> None:
    from .loadtest import main as loadtest

    loadtest(settings, args)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n")[0],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="upgrade the database to the latest revision")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0: all)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="default: WEB_CONCURRENCY; more than 1 runs gunicorn (gunicorn_conf.py)",
    )
    serve.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        default=None,
        help="default: LOG_LEVEL (info); info logs one line per request",
    )

    check = commands.add_parser(
        "check",
        help="check that the connection budget fits the database's max_connections",
        description="Reads max_connections and the reserved connections from the "
        "database and compares them with replicas x workers x (DB_POOL_SIZE + "
        "DB_MAX_OVERFLOW) + 1; exits 1 when the plan cannot fit.",
    )
    check.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="workers per instance (default: WEB_CONCURRENCY)",
    )
    check.add_argument(
        "--replicas", type=_positive_int, default=1, help="instances of the service (default: 1)"
    )
    check.add_argument(
        "--pgbouncer-connections",
        type=_positive_int,
        default=None,
        help="behind PgBouncer: the most server connections it opens to this database "
        "(default_pool_size or max_db_connections, times its instances; default: no PgBouncer)",
    )

{%- if cookiecutter.example_domain == "bookings" %}
    seed = commands.add_parser(
        "seed",
        help="bulk-load fake data (tops up to the counts given)",
        description="Adds fake users, venues and bookings until the database holds the "
        "counts given (run it again: it adds nothing).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    seed.add_argument("--users", type=int, default=1_000, help="users in total")
    seed.add_argument("--bookings", type=int, default=100_000, help="bookings in total")
    seed.add_argument("--venues", type=int, default=50, help="venues in total")

{%- endif %}
    user = commands.add_parser("create-user", help="create a user and print its bearer token")
    user.add_argument("email")
    user.add_argument("--admin", action="store_true", help="grant administrator rights")
    user.add_argument(
        "--password",
        action="store_true",
        help="also set a password for logging in: asked for without echo, or read "
        "from stdin when it is not a terminal (never an argument)",
    )
    user.add_argument(
        "--new-token-if-exists",
        action="store_true",
        help="if the user exists, print one more token for it: the tokens printed before keep "
        f"working (safe to re-run; `{PROG} revoke-token` ends them all)",
    )

    password = commands.add_parser(
        "set-password",
        help="set a user's password for logging in: asked for without echo, or read from "
        "stdin when it is not a terminal (never an argument)",
    )
    password.add_argument("email")

    revoke = commands.add_parser("revoke-token", help="make a user's bearer token stop working")
    revoke.add_argument("email")
    revoke.add_argument("--new", action="store_true", help="print a replacement token")

    schema = commands.add_parser("openapi", help="write the OpenAPI schema (all routers)")
    schema.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")

    resource = commands.add_parser(
        "new-resource",
        help="add a resource: table, schemas, router, migration and tests",
        description="Writes a paginated, exportable CRUD resource into this project "
        "(run in the project's directory). Field types: "
        "str, text, int, float, bool, decimal, date, datetime, enum[A,B,...] (one of the "
        "values, a filter of the lists); NAME:TYPE? is optional.",
    )
    resource.add_argument("name", help="the resource's class name, like Room or RoomType")
    resource.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME:TYPE",
        help="a field (repeat for more), like name:str or notes:text?",
    )
    resource.add_argument(
        "--owned",
        action="store_true",
        help="rows belong to the user who creates them, and administrators list and "
        "export every user's rows under /admin/ (default: read by users, written by "
        "administrators)",
    )
    resource.add_argument("--plural", help="the table and URL name (default: NAME + s)")
    resource.add_argument(
        "--project", default=".", help="the project's directory (default: the current one)"
    )
    _loadtest_parser(commands)
    return parser


def _loadtest_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    load = commands.add_parser(
        "loadtest",
        help="drive a mixed load at a server and check the guide's success metrics",
        description="Virtual users, each with its own token, list, page, read, create, "
        "update, delete and export over every registered resource, while the server's "
        "memory is read from /health/memory. Prints success %%, p50/p95/p99, requests/s, "
        "memory per worker, requests shed and MemoryErrors, each held to its threshold "
        "(the guide's by default); exits 1 when one fails. 429s are counted apart. "
        "On this machine the users (loadtest-N@example.org) are made in DATABASE_URL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    load.add_argument("url", nargs="?", default="http://127.0.0.1:8000", help="the server")
    load.add_argument("--users", type=_positive_int, default=50, help="virtual users")
    load.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    load.add_argument(
        "--requests", type=_positive_int, default=None, help="stop after this many requests"
    )
    load.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="requests per second of each user (0: back to back); RATE_LIMIT_DEFAULT "
        "(120/minute) allows each user 2",
    )
    load.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="the users' tokens, one a line (needed for a server elsewhere); the first "
        "one, or METRICS_TOKEN, reads /health/memory",
    )
    load.add_argument("--min-success", type=float, default=99.9, help="percent, 429s apart")
    load.add_argument("--max-p95-ms", type=float, default=2000.0, help="milliseconds")
    load.add_argument(
        "--max-memory-mb", type=float, default=400.0, help="average RSS per worker, MiB"
    )
    load.add_argument("--seed", type=int, default=None, help="random seed of the users' choices")
    load.add_argument("--json", action="store_true", help="the results as JSON")


_HANDLERS = {
    "migrate": _migrate,
    "serve": _serve,
    "check": _check,
{%- if cookiecutter.example_domain == "bookings" %}
    "seed": _seed,
{%- endif %}
    "create-user": _create_user,
    "set-password": _set_password,
    "loadtest": _loadtest,
    "revoke-token": _revoke_token,
    "openapi": _openapi,
}


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "new-resource":  # works on the source: needs no settings
        _new_resource(args)
        return
    try:
        settings = get_settings()
    except SettingsError as exc:
        sys.exit(str(exc))
    if (problem := _sqlite_folder_problem(settings)) is not None:
        sys.exit(f"error: {problem} (the database is DATABASE_URL)")
    try:
        _HANDLERS[args.command](settings, args)
    except Exception as exc:
        if (reason := _database_failure(exc)) is None:
            raise
        # A message, not a traceback (and never the URL: it may hold a password).
        sys.exit(f"error: the database failed: {reason}\n{_advice(settings, args.command, exc)}")


def _advice(settings: Settings, command: str, exc: Exception) -> str:
    """What to do about a database failure, for the command that met it."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    where = "the database is DATABASE_URL, from the environment or a .env file here"
    if _sqlstate_of(exc) == "3D000":  # invalid_catalog_name: no such database
        role = f" -U {url.username}" if url.username else ""
        return (
            f"create it, then run `{PROG} migrate`:\n"
            f"  createdb -h {url.host or 'localhost'} -p {url.port or 5432}{role} {url.database}\n"
            f"({where})"
        )
    if command == "migrate":
        return f"is it reachable? {where}"
    return f"is it reachable, and migrated? `{PROG} migrate` creates the tables; {where}"


def _sqlite_folder_problem(settings: Settings) -> str | None:
    """Checked before connecting: aiosqlite's failed connect can leave its
    thread printing a traceback after the message."""
    if not settings.is_sqlite:
        return None
    from sqlalchemy.engine import make_url

    database = make_url(settings.database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = os.path.dirname(os.path.abspath(database))
    if not os.path.isdir(folder):
        return f"the folder of the SQLite database does not exist: mkdir -p {folder}"
    if not os.access(folder, os.W_OK):
        return f"the folder of the SQLite database is not writable: {folder}"
    return None


def _sqlstate_of(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sqlstate", None) or "")


def _database_failure(exc: Exception) -> str | None:
    from sqlalchemy.exc import DBAPIError

    from .db import database_unavailable

    if isinstance(exc, DBAPIError):
        return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    # Refused, reset or timed out while connecting: the service's own test
    # (db.py), not any OSError, which could be a file or a port as well.
    if database_unavailable(exc) is not None:
        return str(exc) or type(exc).__name__
    return None


if __name__ == "__main__":
    main()
