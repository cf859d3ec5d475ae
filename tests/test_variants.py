"""Every supported variant renders clean, installs, passes its own tests and
boots. The `project` fixture (conftest) runs each test once per variant."""

import hashlib
import os
import re
import subprocess
import tomllib

import httpx
import pytest
import yaml

from harness.project import bearer
from tests.conftest import Rendered, assert_generated_tests_pass, users_environment

LEFTOVER = re.compile(r"{{|{%")
WORKFLOW_LEFTOVER = re.compile(r"(?<!\$){{|{%")
DOCKER_FILES = ["Dockerfile", ".dockerignore", "docker-compose.yml"]


def _text_files(root):
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:
                continue


def test_no_leftover_template_syntax(project: Rendered):
    # GitHub Actions expressions are ${{ ... }}: workflows are copied unrendered.
    offenders = [
        str(path.relative_to(project.path))
        for path, text in _text_files(project.path)
        if (WORKFLOW_LEFTOVER if ".github" in path.parts else LEFTOVER).search(text)
    ]
    assert offenders == []
    assert "{{" not in str(list(project.path.rglob("*")))


def test_ruff_check_and_format(project: Rendered):
    ruff = [str(project.bin / "ruff")]
    check = subprocess.run([*ruff, "check", "."], cwd=project.path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "--diff", "."],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_type_check(project: Rendered):
    """`mypy` as the README runs it, from the project's root: the package
    strictly, the tests' bodies too (its cache stays in the project)."""
    result = subprocess.run(
        [str(project.bin / "mypy")], cwd=project.path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_variant_files(project: Rendered):
    wanted = project.variant.answer("with_docker", "yes") == "yes"
    for name in DOCKER_FILES:
        assert (project.path / name).exists() == wanted, name
    assert (project.path / "src" / project.slug / "app.py").exists()
    # Without the prompt, not a trace of Prometheus: no dependency, no module.
    metrics = project.variant.answer("with_prometheus", "no") == "yes"
    assert ("prometheus" in (project.path / "pyproject.toml").read_text()) == metrics
    assert (project.path / "src" / project.slug / "web" / "metrics.py").exists() == metrics
    # Likewise OpenTelemetry: no dependency, no module, no test, not a mention.
    tracing = project.variant.answer("with_opentelemetry", "no") == "yes"
    assert ("opentelemetry" in (project.path / "pyproject.toml").read_text()) == tracing
    assert (project.path / "src" / project.slug / "web" / "telemetry.py").exists() == tracing
    assert (project.path / "tests" / "test_telemetry.py").exists() == tracing
    mentions = [
        str(path.relative_to(project.path))
        for path, text in _text_files(project.path)
        if "opentelemetry" in text.lower()
    ]
    assert bool(mentions) == tracing, mentions
    # Without the example: no booking or venue module, route, migration,
    # command or test, and the test of a resource added by new-resource.
    example = project.variant.answer("example_domain", "bookings") == "bookings"
    package = project.path / "src" / project.slug
    for module in ("resources/bookings.py", "routers/venues.py", "seed.py"):
        assert (package / module).exists() == example, module
    code = "\n".join(path.read_text() for path in package.rglob("*.py"))
    assert ("resources.bookings" in code) == example
    assert ('LazyRouter("/bookings"' in code) == example
    assert (project.path / "tests" / "test_added_resource.py").exists() != example


def _dockerfile_stages(path) -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuations joined."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    stages: list[list[tuple[str, str]]] = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), rest))
    return stages


def _console_script(project: Rendered) -> str:
    scripts = tomllib.loads((project.path / "pyproject.toml").read_text())["project"]["scripts"]
    (name,) = scripts
    return name


def test_dockerfile(project: Rendered):
    if project.variant.answer("with_docker", "yes") != "yes":
        pytest.skip("no container files in this variant")
    build, runtime = _dockerfile_stages(project.path / "Dockerfile")
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert runtime[0][0] == "FROM"
    runtime_args = dict(runtime[1:])  # the last of each instruction
    assert runtime_args["COPY"] == "--from=build /opt/venv /opt/venv"
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "MALLOC_ARENA_MAX=2" in env
    assert "DOCS_ENABLED=false" in env
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert "/api/health/ready" in runtime_args["HEALTHCHECK"]
    assert runtime_args["CMD"].startswith(f'["{_console_script(project)}", "serve"')
    ignored = (project.path / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env"} <= set(ignored)


def test_compose_file(project: Rendered):
    if project.variant.answer("with_docker", "yes") != "yes":
        pytest.skip("no container files in this variant")
    services = yaml.safe_load((project.path / "docker-compose.yml").read_text())["services"]
    assert set(services) == {"db", "migrate", "app"}
    db, migrate, app = services["db"], services["migrate"], services["app"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    # A one-shot migration once the database is healthy.
    assert migrate["command"] == [_console_script(project), "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    for service in (migrate, app):
        url = service["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://") and "@db:5432/" in url
    assert "/api/health/ready" in " ".join(app["healthcheck"]["test"])


# Kubernetes versions whose API the manifests must validate against (oldest
# first): the preStop sleep action needs 1.30.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")


def test_kubernetes_manifests(project: Rendered):
    """Every manifest validates (strict: no unknown fields) against the
    Kubernetes API of each version targeted; the memory, worker and shutdown
    numbers agree with the answers and with each other."""
    if project.variant.answer("with_docker", "yes") != "yes":
        pytest.skip("no container files in this variant")
    import kubernetes_validate

    base = project.path / "deploy" / "kubernetes"
    docs = {path.name: yaml.safe_load(path.read_text()) for path in sorted(base.glob("*.yaml"))}
    kustomization = docs.pop("kustomization.yaml")
    assert set(kustomization["resources"]) <= set(docs), kustomization["resources"]
    for name, doc in docs.items():
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name} on Kubernetes {version}: {exc.message} at {list(exc.path)}")
    settings = docs["configmap.yaml"]["data"]
    threshold = int(project.variant.answer("memory_threshold_percent", "85"))
    critical = int(project.variant.answer("memory_critical_percent", "90"))
    assert (settings["MEMORY_THRESHOLD_PERCENT"], settings["MEMORY_CRITICAL_PERCENT"]) == (
        str(threshold),
        str(critical),
    )
    pod = docs["deployment.yaml"]["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    limit_mib = int(api["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert api["resources"]["requests"]["memory"] == api["resources"]["limits"]["memory"]
    header = (base / "deployment.yaml").read_text()
    for percent in (threshold, critical):
        assert f"{percent}% " in header and f"({limit_mib * percent // 100} MiB" in header
    assert settings["WEB_CONCURRENCY"] == api["resources"]["limits"]["cpu"]
    assert (
        pod["terminationGracePeriodSeconds"] > 20 + api["lifecycle"]["preStop"]["sleep"]["seconds"]
    )
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    mounts = {mount["mountPath"] for mount in api["volumeMounts"]}
    assert {settings["UPLOAD_DIR"], "/tmp"} <= mounts
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/health/ready"


def test_answers_reach_the_settings(project: Rendered):
    code = (
        f"from {project.slug}.settings import load_settings; s = load_settings(_env_file=None);"
        "print(s.db_pool_size, s.default_page_size, s.max_page_size, s.database_url.split(':')[0])"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "DATABASE_", "DEFAULT_", "MAX_"))
    }
    out = subprocess.run(
        [str(project.python), "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    answer = project.variant.answer
    driver = (
        "postgresql+asyncpg" if project.variant.database == "postgresql" else "sqlite+aiosqlite"
    )
    assert out == [
        answer("db_pool_size", "3"),
        answer("default_page_size", "50"),
        answer("max_page_size", "100"),
        driver,
    ]


def test_ci_workflow_passes_actionlint(project: Rendered, actionlint):
    assert actionlint(project.path / ".github" / "workflows" / "ci.yml") == []


def test_openapi_document_passes_redocly_lint(project: Rendered, redocly, tmp_path):
    """The document the `openapi` command writes, as a linter reads it."""
    document = tmp_path / "openapi.json"
    project.cli("openapi", "--output", str(document), timeout=300)
    assert redocly(document) == ""


def test_ci_workflow_runs_both_tiers(project: Rendered):
    """The generated CI runs the slow tier as well as the fast one."""
    workflow = yaml.safe_load((project.path / ".github" / "workflows" / "ci.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    (tests,) = [run for run in runs if "pytest" in run]
    assert "--slow" in tests.split(), tests


def test_pre_commit_passes_on_every_file(project: Rendered, tmp_path):
    """The hooks run the tools of the project's .venv (here the variant's
    venv): nothing is downloaded. Runs after the type check, whose cache it reuses."""
    venv = project.path / ".venv"
    if not venv.exists():
        venv.symlink_to(project.bin.parent)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=project.path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project.path, check=True)
    result = subprocess.run(
        [str(project.bin / "pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"ruff check", "ruff format", "mypy"} <= {
        line.partition("...")[0].strip() for line in result.stdout.splitlines()
    }


# Code digest -> the variant whose suite passed with it (and whether slow tests ran).
_PASSED_SUITES: dict[str, tuple[str, bool]] = {}


def _code_digest(project: Rendered) -> str:
    """What the generated suite depends on: the package, the tests, pyproject
    and the database. Variants that differ only in other files (Docker) share it."""
    digest = hashlib.sha256(project.variant.database.encode())
    for path in sorted(project.path.glob("src/**/*")) + sorted(project.path.glob("tests/**/*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(project.path)).encode() + path.read_bytes())
    digest.update((project.path / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def test_generated_tests_pass(project: Rendered, fresh_database, postgres_server):
    """The project's own suite, on the variant's database: a real PostgreSQL
    server for PostgreSQL variants (SQLite is the SQLite variants' part),
    reached over TLS too when the server has a certificate.

    A variant whose code is byte for byte that of a variant already tested
    (with_docker changes only the container files) is not run again; a
    variant may name the part of the suite its answers touch (variants.py)."""
    code = _code_digest(project)
    if code in _PASSED_SUITES and (_PASSED_SUITES[code][1] or not project.variant.slow_tests):
        print(f"same package, tests and database as {_PASSED_SUITES[code][0]}, which passed")
        return
    env = users_environment()
    env.pop("TEST_DATABASE_URL", None)
    slow = project.variant.slow_tests
    if project.variant.database == "postgresql":
        url = fresh_database(project.python, f"t_{project.variant.id.replace('-', '_')}")
        pg_env = {**env, "TEST_DATABASE_URL": url}
        if root_cert := postgres_server[1]:
            pg_env["TEST_DATABASE_ROOT_CERT"] = root_cert
        runs = [("postgresql", pg_env, slow)]
    else:
        runs = [("sqlite", env, slow)]
    for where, run_env, with_slow in runs:
        tiers = ["--slow"] if with_slow else []  # both tiers, else the fast one
        args = [*project.variant.suite, *tiers]
        assert_generated_tests_pass(project, run_env, *args, label=f"[{where}]")
    if not project.variant.suite:  # only a whole suite vouches for identical code
        _PASSED_SUITES[code] = (project.variant.id, slow)


def test_boots_and_serves(project: Rendered, fresh_database, tmp_path):
    if project.variant.database == "postgresql":
        url = fresh_database(project.python, f"b_{project.variant.id.replace('-', '_')}")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'boot.db'}"
    env = {"DATABASE_URL": url}
    project.cli("migrate", env=env, timeout=120)
    token = project.token("boot@example.org", env=env)
    health = "/api/health/ready"
    with project.serve(env=env, cwd=tmp_path, log=tmp_path / "server.log", health=health) as server:
        base = server.url("/api")
        ready = httpx.get(server.url(health), timeout=5)
        assert ready.status_code == 200, ready.text
        # A list every project has, and the example's when it is there.
        example = project.variant.answer("example_domain", "bookings") == "bookings"
        for path in ("/uploads", "/bookings") if example else ("/uploads",):
            listed = httpx.get(f"{base}{path}", headers=bearer(token))
            assert listed.status_code == 200
            assert listed.json()["pagination"]["total"] == 0
            assert httpx.get(f"{base}{path}").status_code == 401
        if not example:
            assert httpx.get(f"{base}/bookings", headers=bearer(token)).status_code == 404
    output = server.output()
    assert "Traceback" not in output, output
