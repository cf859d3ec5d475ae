"""One token per virtual user: made in the database when the target is this
machine (the accounts are kept, their tokens replaced each run), or read from
a file, one token a line, for any other target."""

from pathlib import Path

from ..settings import Settings

ADMIN = "loadtest-admin@example.org"  # the first user: administrators' lists, memory


def email(index: int) -> str:
    return ADMIN if index == 0 else f"loadtest-{index}@example.org"


async def local_tokens(settings: Settings, users: int) -> list[str]:
    from ..db import create_engine
    from ..users import UserExistsError, create_user, revoke_token

    engine = create_engine(settings)
    tokens = []
    try:
        for index in range(users):
            try:
                token = await create_user(engine, email(index), is_admin=index == 0)
            except UserExistsError:
                token = await revoke_token(engine, email(index))
            tokens.append(token)
    finally:
        await engine.dispose()
    return tokens


def file_tokens(path: Path, users: int) -> list[str]:
    """`users` tokens from the file, reused in turn when it holds fewer."""
    tokens = [
        line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if not tokens:
        raise ValueError(f"{path} holds no token (one a line)")
    return [tokens[i % len(tokens)] for i in range(users)]
