"""A rendered project: the template rendered with cookiecutter, installed
into a virtual environment with uv, and driven through its command line.

The environment a project's commands and servers run with is its `env`,
merged with what a call adds; they run in the project's directory unless
told otherwise.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cookiecutter.main import cookiecutter

from harness.server import Server, free_port, serve

REPO = Path(__file__).resolve().parent.parent

# Installs compile bytecode up front: where PYTHONDONTWRITEBYTECODE is set
# (as on CI machines), each of the many service processes started would
# otherwise compile every module it imports again (measured: a CLI call
# took 4.3 s instead of 2.0 s).
COMPILE = "--compile-bytecode"


def uv(*args: str, **kwargs) -> subprocess.CompletedProcess:
    uv_bin = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    return subprocess.run([uv_bin, *args], check=True, capture_output=True, text=True, **kwargs)


def render(output_dir: Path, answers: dict[str, str]) -> Path:
    """The template rendered with `answers` (the rest as defaulted) under `output_dir`."""
    return Path(
        cookiecutter(
            str(REPO),
            no_input=True,
            output_dir=str(output_dir),
            overwrite_if_exists=True,
            extra_context=answers,
        )
    )


def create_venv(venv: Path) -> Path:
    """A new virtual environment on this interpreter; its python."""
    uv("venv", "--quiet", "--python", sys.executable, str(venv))
    return venv / "bin" / "python"


def install(python: Path, *targets: str, cwd: Path | None = None) -> None:
    """`uv pip install` into the environment of `python` (targets may carry options)."""
    uv("pip", "install", "--quiet", COMPILE, "--python", str(python), *targets, cwd=cwd)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(kw_only=True)
class Project:
    path: Path
    slug: str
    python: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def bin(self) -> Path:
        return self.python.parent

    @property
    def cli_name(self) -> str:
        return self.slug.replace("_", "-")

    def run(
        self, *command: str, check: bool = True, env=None, cwd=None, timeout=600, stdin=None
    ) -> subprocess.CompletedProcess:
        """Run `command`; unless check=False, fail with its output if it fails."""
        result = subprocess.run(
            command,
            cwd=cwd or self.path,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{command} exited {result.returncode}\n{result.stdout[-4000:]}{result.stderr}"
            )
        return result

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(str(self.bin / self.cli_name), *args, **kwargs)

    def script(self, path: Path, *args: str, **kwargs) -> str:
        """What a Python program prints, run with the project's interpreter."""
        return self.run(str(self.python), str(path), *args, **kwargs).stdout.strip()

    def token(self, email: str, *flags: str, **kwargs) -> str:
        """A new user's API token (`create-user` prints it last)."""
        return self.cli("create-user", email, *flags, **kwargs).stdout.strip().splitlines()[-1]

    def serve(
        self,
        *args: str,
        env=None,
        cwd=None,
        log: Path | None = None,
        health: str = "/api/health",
        prefix: list[str] | None = None,
    ) -> Server:
        """`serve` on a free port, once `health` answers; `prefix` wraps the
        command (taskset)."""
        port = free_port()
        argv = [*(prefix or []), str(self.bin / self.cli_name), "serve", "--port", str(port), *args]
        return serve(
            argv,
            port=port,
            env={**self.env, **(env or {})},
            health=health,
            cwd=cwd or self.path,
            log=log,
        )
