"""DB_SSL_MODE and DB_SSL_ROOT_CERT: validated settings, asyncpg's `ssl`
argument, and (with TEST_DATABASE_ROOT_CERT) a real TLS connection."""

import os
import shutil
import ssl
import subprocess

import pytest
from sqlalchemy import make_url, text

from {{ cookiecutter.project_slug }}.db import create_engine, postgresql_connect_args
from {{ cookiecutter.project_slug }}.settings import SettingsError, load_settings

PG_URL = "postgresql+asyncpg://app:secret@localhost:5432/app"
ROOT_CERT = os.environ.get("TEST_DATABASE_ROOT_CERT")
ON_POSTGRESQL = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


def _settings(**overrides):
    return load_settings(**{"database_url": PG_URL, "_env_file": None, **overrides})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> str:
    """A self-signed certificate for `localhost`, to serve as a root."""
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-keyout", str(directory / "key.pem"),
            "-out", str(directory / "root.crt"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(directory / "root.crt")


def test_tls_is_off_unless_asked():
    # False, not None: asyncpg would otherwise try TLS first and fall back.
    assert postgresql_connect_args(_settings())["ssl"] is False


def test_require_encrypts_without_checking_the_certificate():
    context = postgresql_connect_args(_settings(db_ssl_mode="require"))["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_verify_full_checks_the_chain_against_the_root_and_the_host_name(certificate):
    settings = _settings(db_ssl_mode="verify-full", db_ssl_root_cert=certificate)
    context = postgresql_connect_args(settings)["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    [root] = context.get_ca_certs()
    assert root["subject"] == ((("commonName", "localhost"),),)


def test_verify_full_without_a_root_uses_the_system_authorities():
    context = postgresql_connect_args(_settings(db_ssl_mode="verify-full"))["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"db_ssl_mode": "prefer"}, "DB_SSL_MODE"),
        (
            {"db_ssl_mode": "verify-full", "db_ssl_root_cert": "/no/such/root.crt"},
            "DB_SSL_ROOT_CERT",
        ),
        ({"database_url": PG_URL + "?sslmode=require"}, "DATABASE_URL"),
        ({"database_url": PG_URL + "?ssl=true"}, "DATABASE_URL"),
        ({"database_url": "sqlite+aiosqlite:///x.db", "db_ssl_mode": "require"}, "DB_SSL_MODE"),
    ],
)
def test_bad_tls_settings_are_refused_by_name(overrides, named):
    with pytest.raises(SettingsError, match=named):
        _settings(**overrides)


def test_a_root_certificate_needs_verify_full(certificate):
    with pytest.raises(SettingsError, match=r"DB_SSL_ROOT_CERT.*verify-full"):
        _settings(db_ssl_mode="require", db_ssl_root_cert=certificate)


needs_tls_server = pytest.mark.skipif(
    not (ON_POSTGRESQL and ROOT_CERT),
    reason="needs TEST_DATABASE_URL on PostgreSQL with TLS and TEST_DATABASE_ROOT_CERT",
)


async def _uses_tls(database_url: str, **tls) -> bool:
    engine = create_engine(_settings(database_url=database_url, **tls))
    try:
        async with engine.connect() as conn:
            query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            uses_tls: bool = await conn.scalar(text(query))
            return uses_tls
    finally:
        await engine.dispose()


def _with_host(database_url: str, host: str) -> str:
    return make_url(database_url).set(host=host).render_as_string(hide_password=False)


@needs_tls_server
@pytest.mark.anyio
async def test_real_connections_follow_the_mode(database_url):
    by_name = _with_host(database_url, "localhost")  # the name in the certificate
    verified = {"db_ssl_mode": "verify-full", "db_ssl_root_cert": ROOT_CERT}
    assert await _uses_tls(by_name, **verified) is True
    assert await _uses_tls(by_name, db_ssl_mode="require") is True
    assert await _uses_tls(by_name, db_ssl_mode="disable") is False


@needs_tls_server
@pytest.mark.anyio
async def test_verify_full_refuses_a_host_the_certificate_does_not_name(database_url):
    by_address = _with_host(database_url, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _uses_tls(by_address, db_ssl_mode="verify-full", db_ssl_root_cert=ROOT_CERT)
