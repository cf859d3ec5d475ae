import os
import subprocess
import sys

import pytest

from {{ cookiecutter.project_slug }}.settings import (
    Settings,
    SettingsError,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_are_the_template_answers():
    settings = load_settings(_env_file=None)
    assert settings.memory_threshold_percent == {{ cookiecutter.memory_threshold_percent }}
    assert settings.memory_critical_percent == {{ cookiecutter.memory_critical_percent }}
    assert settings.db_pool_size == {{ cookiecutter.db_pool_size }}
    assert settings.db_max_overflow == {{ cookiecutter.db_max_overflow }}
    assert settings.default_page_size == {{ cookiecutter.default_page_size }}
    assert settings.max_page_size == {{ cookiecutter.max_page_size }}
    assert settings.max_body_size_mb == {{ cookiecutter.max_body_size_mb }}
    assert settings.max_upload_size_mb == {{ cookiecutter.max_upload_size_mb }}
    assert settings.gc_interval_seconds == {{ cookiecutter.gc_interval_seconds }}


def test_environment_variables_override(monkeypatch):
    monkeypatch.setenv("DB_POOL_SIZE", "7")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("LAZY_ROUTERS", "false")
    settings = load_settings(_env_file=None)
    assert settings.db_pool_size == 7
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.lazy_routers is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_SIZE", "many"),
        ("DB_MAX_OVERFLOW", "-1"),
        ("MEMORY_THRESHOLD_PERCENT", "100"),
        ("MAX_BODY_SIZE_MB", "0"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("API_PREFIX", "api/"),
        ("RATE_LIMIT_STORAGE", "memcached://x"),
        ("LAZY_ROUTERS", "perhaps"),
        ("MEMORY_LIMIT_MB", "0"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert variable in str(caught.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"MEMORY_THRESHOLD_PERCENT": "90", "MEMORY_CRITICAL_PERCENT": "80"},
            "MEMORY_CRITICAL_PERCENT",
        ),
        ({"DEFAULT_PAGE_SIZE": "500", "MAX_PAGE_SIZE": "100"}, "DEFAULT_PAGE_SIZE"),
    ],
)
def test_rules_across_variables(monkeypatch, env, named):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=named):
        load_settings(_env_file=None)


def test_cli_refuses_to_start_with_an_invalid_value(tmp_path):
    env = {**os.environ, "DB_POOL_SIZE": "zero"}
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.project_slug }}", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DB_POOL_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("postgres://app:pw@db:5432/app", "postgresql+asyncpg://app:pw@db:5432/app"),
        ("postgresql://app@db.example/app", "postgresql+asyncpg://app@db.example/app"),
        ("postgresql+asyncpg://app@db.example/app", "postgresql+asyncpg://app@db.example/app"),
        ("sqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
        ("sqlite+aiosqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
    ],
)
def test_database_url_in_the_spellings_providers_give(monkeypatch, given, stored):
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings(_env_file=None).database_url == stored


PASSWORD = "hunter2-not-to-be-shown"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", f"mysql://app:{PASSWORD}@db.example/app"),
        ("DATABASE_URL", f"postgres://app:{PASSWORD}@db.example/app?sslmode=require"),
        ("DATABASE_URL", f"postgres://app:{PASSWORD}@db.example:port/app"),
        ("DATABASE_URL", f"app:{PASSWORD} at db.example"),
        ("RATE_LIMIT_STORAGE", f"memcached://app:{PASSWORD}@cache.example"),
        ("BROADCAST_URL", f"nats://app:{PASSWORD}@bus.example"),
        ("METRICS_TOKEN", "hunter2"),
    ],
)
def test_a_refused_value_never_shows_a_password(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert variable in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_production_needs_every_per_process_secret_set(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert "needs CURSOR_SECRET set" in str(caught.value)
    assert "token_urlsafe" in str(caught.value)  # how to make one
    monkeypatch.setenv("CURSOR_SECRET", "shared-by-every-worker")
    assert load_settings(_env_file=None).cursor_secret.get_secret_value()
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.delenv("CURSOR_SECRET")
    load_settings(_env_file=None)  # elsewhere a random secret will do


@pytest.mark.parametrize(
    ("environment", "docs_enabled", "served"),
    [
        ("production", None, False),
        ("production", "true", True),
        ("development", None, True),
        ("staging", "false", False),
    ],
)
def test_docs_are_off_in_production_unless_asked_for(
    monkeypatch, environment, docs_enabled, served
):
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("CURSOR_SECRET", "shared-by-every-worker")
    if docs_enabled is not None:
        monkeypatch.setenv("DOCS_ENABLED", docs_enabled)
    assert load_settings(_env_file=None).docs_enabled is served


def test_cli_says_which_secrets_production_lacks_and_never_the_password(tmp_path):
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "DATABASE_URL": f"postgres://app:{PASSWORD}@127.0.0.1:1/app",
    }
    env.pop("CURSOR_SECRET", None)
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.project_slug }}", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "CURSOR_SECRET" in result.stderr and "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
