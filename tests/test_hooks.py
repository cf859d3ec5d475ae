"""The answer check (local_extensions.py) and the hooks: every invalid answer
is refused with a message naming the prompt and what is allowed, leaving no
output behind and no traceback; the post-generation manifest names only
files that exist."""

import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

TEMPLATE = REPO / "{{cookiecutter.project_slug}}"


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


post_gen = _load(REPO / "hooks" / "post_gen_project.py")
answers_check = _load(REPO / "local_extensions.py")

# (answers, the prompt the message must name, fragments of what is allowed)
REFUSED = [
    ({"project_slug": "Not-Valid"}, "project_slug", ("lowercase Python identifier",)),
    ({"project_slug": "1service"}, "project_slug", ("lowercase Python identifier",)),
    ({"project_slug": "class"}, "project_slug", ("not a keyword",)),
    ({"project_slug": "json"}, "project_slug", ("standard library",)),
    ({"project_slug": "a" * 41}, "project_slug", ("at most 40 characters",)),
    ({"project_name": "!!!"}, "project_slug", ("empty slug",)),
    ({"project_name": "2024 Bookings"}, "project_slug", ("lowercase Python identifier",)),
    # Choice prompts given on the command line are checked by cookiecutter
    # itself before any hook runs (its message names the prompt and choices).
    ({"database": "mysql"}, "database", ("sqlite", "postgresql")),
    ({"with_docker": "maybe"}, "with_docker", ("yes", "no")),
    ({"with_prometheus": "1"}, "with_prometheus", ("yes", "no")),
    ({"with_opentelemetry": "on"}, "with_opentelemetry", ("yes", "no")),
    ({"memory_threshold_percent": "0"}, "memory_threshold_percent", ("from 1 to 99",)),
    ({"memory_threshold_percent": "100"}, "memory_threshold_percent", ("from 1 to 99",)),
    ({"memory_critical_percent": "abc"}, "memory_critical_percent", ("from 1 to 99",)),
    (
        {"memory_threshold_percent": "90", "memory_critical_percent": "90"},
        "memory_critical_percent",
        ("greater than memory_threshold_percent",),
    ),
    ({"max_body_size_mb": "0"}, "max_body_size_mb", (">= 1",)),
    ({"max_upload_size_mb": "-5"}, "max_upload_size_mb", (">= 1",)),
    ({"db_pool_size": "0"}, "db_pool_size", (">= 1",)),
    ({"db_max_overflow": "-1"}, "db_max_overflow", (">= 0",)),
    ({"default_page_size": "0"}, "default_page_size", (">= 1",)),
    ({"max_page_size": "x"}, "max_page_size", (">= 1",)),
    (
        {"default_page_size": "200", "max_page_size": "100"},
        "default_page_size",
        ("at most max_page_size",),
    ),
    ({"gc_interval_seconds": "-1"}, "gc_interval_seconds", (">= 0",)),
]


def _defaults() -> dict:
    context = json.loads((REPO / "cookiecutter.json").read_text())
    answers = {
        k: (v[0] if isinstance(v, list) else v) for k, v in context.items() if not k.startswith("_")
    }
    answers["project_slug"] = "lean_service"
    return answers


def test_defaults_are_valid():
    assert answers_check.answer_errors(_defaults()) == []


CHOICE_PROMPTS = {"database", "with_docker", "with_prometheus", "with_opentelemetry"}
# The slug derived from project_name is only known inside cookiecutter, and
# choices are checked by cookiecutter: those cases are checked end to end only.
ANSWERED_DIRECTLY = [
    case for case in REFUSED if "project_name" not in case[0] and case[1] not in CHOICE_PROMPTS
]


@pytest.mark.parametrize(
    ("answers", "prompt", "allowed"), ANSWERED_DIRECTLY, ids=lambda v: str(v)[:40]
)
def test_validate_names_prompt_value_and_allowed(answers, prompt, allowed):
    errors = answers_check.answer_errors({**_defaults(), **answers})
    assert errors, answers
    message = next(error for error in errors if error.startswith(f"{prompt}:"))
    assert all(fragment in message for fragment in allowed), message
    assert str(answers.get(prompt)) in message


@pytest.mark.parametrize(("answers", "prompt", "allowed"), REFUSED, ids=lambda v: str(v)[:40])
def test_cookiecutter_refuses_and_leaves_nothing(tmp_path, answers, prompt, allowed):
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(REPO), "-o", str(out)]
        + [f"{key}={value}" for key, value in answers.items()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert prompt in result.stderr, result.stderr
    assert all(fragment in result.stderr for fragment in allowed), result.stderr
    if prompt not in CHOICE_PROMPTS:  # cookiecutter reports bad choices itself
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stderr.startswith("lean-fastapi: invalid answers"), result.stderr
    assert list(out.iterdir()) == []


# Accepted answers: whatever the name holds, every file that quotes it stays
# valid; slugs that sort after "tests" and the longest slug allowed still
# pass the linter and the formatter.
UNUSUAL = [
    ({"project_name": "Ünïcödé Sérvice — ☕"}, "unicode_service"),
    (
        {"project_name": "Shell `id` $(whoami) ${HOME}; rm -rf / && echo | cat > x"},
        "shell_id_whoami_home_rm_rf_echo_cat_x",
    ),
    (
        {"project_name": "Quotes 'single' \"double\" \\ back\\slash"},
        "quotes_single_double_back_slash",
    ),
    ({"project_name": "  spaced   out  "}, "spaced_out"),
    ({"project_slug": "z" * 40, "database": "postgresql"}, "z" * 40),
]


@pytest.mark.parametrize(("answers", "slug"), UNUSUAL, ids=lambda v: str(v)[:24])
def test_unusual_answers_render_valid_projects(tmp_path, answers, slug):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(REPO), "-o", str(tmp_path)]
    command += [f"{key}={value}" for key, value in answers.items()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    project = tmp_path / slug
    name = answers.get("project_name", "Lean Service")
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["name"] == slug and name in meta["description"]
    app = ast.parse((project / "src" / slug / "app.py").read_text())
    title = next(n for n in ast.walk(app) if isinstance(n, ast.keyword) and n.arg == "title")
    assert ast.literal_eval(title.value) == name
    assert (project / "README.md").read_text().startswith(f"# {name}")
    for tool in (["check", "-q"], ["format", "--check", "-q"]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *tool, str(project)], capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_manifest_paths_exist_in_the_template():
    paths = [path for paths in post_gen.MANIFEST.values() for path in paths]
    assert paths, "the manifest lists the variant-only files"
    for relative in paths:
        assert (TEMPLATE / relative.format(slug="{{cookiecutter.project_slug}}")).exists(), relative


PACKAGE = TEMPLATE / "src" / "{{cookiecutter.project_slug}}"
EXAMPLE = post_gen.MANIFEST[("example_domain", "bookings")]


def _parse(path) -> ast.Module:
    """A template module (its package named by the slug as rendered)."""
    return ast.parse(path.read_text().replace("{{ cookiecutter.project_slug }}", "slug"))


def _code_words(path) -> set[str]:
    """The words of a module's strings, its docstrings left out."""
    tree = _parse(path)
    prose = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            words |= set(re.findall(r"\w+", node.value))
    return words


def _example_tables() -> set[str]:
    """The tables the example's modules declare (`__tablename__ = "..."`)."""
    tables = set()
    for relative in EXAMPLE:
        path = TEMPLATE / relative.format(slug="{{cookiecutter.project_slug}}")
        if path.suffix != ".py" or "migrations" in path.parts:
            continue
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__tablename__"
                for target in node.targets
            ):
                tables.add(ast.literal_eval(node.value))
    return tables


def _revisions() -> dict[str, tuple[str, str | None]]:
    """Each migration's manifest path: (revision, down_revision)."""
    found = {}
    for path in sorted((PACKAGE / "migrations" / "versions").glob("*.py")):
        values = {
            node.target.id: ast.literal_eval(node.value)
            for node in _parse(path).body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value
        }
        key = f"src/{{slug}}/migrations/versions/{path.name}"
        found[key] = (values["revision"], values["down_revision"])
    return found


def test_every_revision_of_the_example_goes_with_it():
    """A migration that names a table of the example belongs to the example:
    a project generated without it must not get a revision of tables it never
    had. Adding a field to the example adds a revision: list it in the manifest."""
    tables = _example_tables()
    assert {"bookings", "venues"} <= tables
    for relative in _revisions():
        path = TEMPLATE / relative.format(slug="{{cookiecutter.project_slug}}")
        touched = _code_words(path) & tables
        listed = relative in EXAMPLE
        assert bool(touched) == listed, (
            f"{path.name} changes the example's tables {sorted(touched)}: list it under "
            "('example_domain', 'bookings') in hooks/post_gen_project.py"
            if touched
            else f"{path.name} is listed with the example but changes none of its tables"
        )


def test_the_migrations_left_without_the_example_form_one_chain():
    """Every revision a project without the example keeps follows one it
    keeps: the example's revisions are the last ones."""
    kept = {rev: down for key, (rev, down) in _revisions().items() if key not in EXAMPLE}
    orphans = {rev: down for rev, down in kept.items() if down is not None and down not in kept}
    assert orphans == {}, f"kept without the example, after one of its revisions: {orphans}"
    assert sum(down is None for down in kept.values()) == 1


def test_manifest_prompts_and_values_exist():
    context = json.loads((REPO / "cookiecutter.json").read_text())
    for prompt, value in post_gen.MANIFEST:
        assert value in context[prompt], (prompt, value)


def test_paths_to_remove_follow_the_answers():
    docker = set(post_gen.MANIFEST[("with_docker", "yes")])
    assert docker <= set(post_gen.paths_to_remove({**_defaults(), "with_docker": "no"}))
    assert not docker & set(post_gen.paths_to_remove({**_defaults(), "with_docker": "yes"}))


def test_optional_modules_go_with_their_answers():
    for prompt, module in (("with_prometheus", "metrics"), ("with_opentelemetry", "telemetry")):
        files = {f"src/{{slug}}/web/{module}.py", f"tests/test_{module}.py"}
        assert set(post_gen.MANIFEST[(prompt, "yes")]) == files
        removed = set(post_gen.paths_to_remove({**_defaults(), prompt: "no"}))
        assert {path.format(slug="lean_service") for path in files} <= removed
        assert not files & set(post_gen.paths_to_remove({**_defaults(), prompt: "yes"}))


def test_generation_ends_with_the_next_commands(tmp_path):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(REPO), "-o", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "lean_service"
    assert f"cd {project}" in result.stdout
    assert ".venv/bin/lean-service migrate && .venv/bin/lean-service serve" in result.stdout


def _prompts():
    context = json.loads((REPO / "cookiecutter.json").read_text())
    return [key for key in context if not key.startswith("_")]


def test_a_refused_answer_keeps_the_others_and_says_how_to_answer_again(tmp_path):
    """Asked as a user is asked (each prompt read from the terminal's lines):
    a typo is refused after the last prompt, and the command printed asks
    again offering every answer, so only the typo is typed again."""
    config = tmp_path / "config.yaml"
    config.write_text(f"replay_dir: {tmp_path / 'replay'}\ncookiecutters_dir: {tmp_path}\n")
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(config)}
    out = tmp_path / "out"
    out.mkdir()
    prompts = _prompts()
    typo = prompts.index("memory_critical_percent")
    answers = ["Kept Answers"] + [""] * (len(prompts) - 1)
    answers[prompts.index("database")] = "2"
    answers[typo] = "9O"
    first = subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(REPO), "-o", str(out)],
        input="\n".join(answers) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 1
    assert "memory_critical_percent: got '9O'" in first.stderr, first.stderr
    assert list(out.iterdir()) == [] and "Traceback" not in first.stderr
    command = shlex.split(first.stderr.strip().splitlines()[-1])
    assert command[:2] == ["cookiecutter", "--config-file"], first.stderr
    kept = json.loads(Path(command[2]).read_text())["default_context"]
    assert kept["project_name"] == "Kept Answers" and kept["database"] == "postgresql"

    again = [""] * len(prompts)  # Enter: the answer given before
    again[typo] = "95"
    second = subprocess.run(
        [sys.executable, "-m", *command],
        input="\n".join(again) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    project = out / "kept_answers"
    settings = (project / "src" / "kept_answers" / "settings.py").read_text()
    assert "memory_critical_percent: Percent = 95" in settings
    assert (
        "postgresql+asyncpg://" in settings
        and "Kept Answers" in (project / "pyproject.toml").read_text()
    )
