"""A typed client generated from the served OpenAPI document runs a whole flow.

openapi-python-client generates the default variant's client, as a team
consuming the service would. Every generated module must import; then the
client creates a venue (administrator) and a booking with items, pages by
cursor to the end, reads, patches, uploads in both forms, reads, downloads
and deletes an upload, exports and deletes. Any call the client cannot make
fails here.
"""

import importlib
import io
import json
import pkgutil
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import bake
from tests.variants import Variant

DEFAULT = Variant("sqlite-client")
PACKAGE = "lean_service_client"  # from the document's title, "Lean Service"


@pytest.fixture(scope="module")
def served(cookies_session, venv_for, tmp_path_factory):
    """(base URL, admin token, user token) of the default variant, served."""
    project = bake(cookies_session, venv_for, DEFAULT)
    work = tmp_path_factory.mktemp("client")
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'client.db'}",
        "UPLOAD_DIR": str(work / "uploads"),
        "RATE_LIMIT_ENABLED": "false",
    }
    project.cli("migrate", env=env, timeout=300)
    tokens = [
        project.token(email, *flags, env=env, timeout=300)
        for email, flags in (("admin@example.org", ["--admin"]), ("user@example.org", []))
    ]
    with project.serve(env=env, health="/api/health/ready") as server:
        yield server.url(), *tokens


@pytest.fixture(scope="module")
def client_package(served, tmp_path_factory):
    """The generated client package, imported (every module of it)."""
    base = served[0]
    work = tmp_path_factory.mktemp("generated")
    document = work / "openapi.json"
    document.write_text(httpx.get(f"{base}/api/openapi.json").text)
    config = work / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(
        [
            str(generator),
            "generate",
            f"--path={document}",
            f"--output-path={work / 'client'}",
            f"--config={config}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing skipped: a warning means an operation or a schema was left out,
    # but for those the generator prints on the raw upload's other allowed
    # types (it sends the bytes as the application/octet-stream listed first).
    printed = result.stdout + result.stderr  # the generator warns on stderr
    warnings = re.findall(r"WARNING parsing (.+)\n+(.+)", printed)
    raw = "POST /api/uploads/raw within uploads."
    assert printed.count("WARNING") == len(warnings), printed
    assert all(
        where == raw and what.startswith("Unsupported content type ") for where, what in warnings
    ), printed
    sys.path.insert(0, str(work / "client"))
    try:
        package = importlib.import_module(PACKAGE)
        for module in pkgutil.walk_packages(package.__path__, f"{PACKAGE}."):
            importlib.import_module(module.name)
        yield package
    finally:
        sys.path.remove(str(work / "client"))


def _api(name: str):
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models():
    return importlib.import_module(f"{PACKAGE}.models")


def test_operation_ids_are_short_and_stable(client_package):
    names = {
        module.name.rpartition(".")[2]
        for module in pkgutil.walk_packages(client_package.__path__, f"{PACKAGE}.")
        if ".api." in module.name and not module.ispkg
    }
    assert {
        "bookings_list",
        "bookings_create",
        "bookings_read",
        "bookings_update",
        "bookings_delete",
        "bookings_export",
        "admin_bookings_list",
        "admin_bookings_export",
        "venues_list",
        "venues_create",
        "uploads_create",
        "uploads_create_raw",
        "uploads_list",
        "uploads_read",
        "uploads_content",
        "uploads_delete",
        "health_live",
        "health_ready",
    } <= names


def test_a_whole_flow_through_the_generated_client(served, client_package):
    base, admin_token, user_token = served
    models, types = _models(), importlib.import_module(f"{PACKAGE}.types")
    admin = client_package.AuthenticatedClient(base_url=base, token=admin_token)
    user = client_package.AuthenticatedClient(base_url=base, token=user_token)

    venue = _api("venues.venues_create").sync(
        client=admin, body=models.VenueCreate(name="Main hall", capacity=40)
    )
    assert isinstance(venue, models.VenueRead), venue

    start = datetime(2031, 3, 1, 9, tzinfo=UTC)
    created = []
    for hour in range(5):
        body = models.BookingCreate(
            title=f"Review {hour}",
            start_datetime=start + timedelta(hours=hour),
            end_datetime=start + timedelta(hours=hour + 1),
            venue_id=venue.id,
            items=[models.BookingItemCreate(name="Coffee", quantity=3, unit_price="2.5")],
        )
        booking = _api("bookings.bookings_create").sync(client=user, body=body)
        assert isinstance(booking, models.BookingRead), booking
        # Stored as NUMERIC(10, 2), answered as stored.
        assert booking.items[0].unit_price == "2.50"
        created.append(booking.id)

    seen, cursor = [], types.UNSET
    while True:
        page = _api("bookings.bookings_list").sync(client=user, page_size=2, cursor=cursor)
        assert isinstance(page, models.PageBookingSummary), page
        seen += [row.id for row in page.items]
        if not page.pagination.next_cursor:
            break
        cursor = page.pagination.next_cursor
    assert sorted(seen) == sorted(created)

    read = _api("bookings.bookings_read").sync(client=user, booking_id=created[0])
    assert read.title == "Review 0" and read.items[0].quantity == 3
    patched = _api("bookings.bookings_update").sync(
        client=user, booking_id=created[0], body=models.BookingUpdate(title="Moved")
    )
    assert patched.title == "Moved"

    multipart = models.UploadsCreateBody(
        file=types.File(payload=io.BytesIO(b"a,b\n1,2\n"), file_name="n.csv", mime_type="text/csv")
    )
    uploaded = _api("uploads.uploads_create").sync(client=user, body=multipart)
    assert isinstance(uploaded, models.UploadRead) and uploaded.size == 8, uploaded
    raw = _api("uploads.uploads_create_raw").sync(
        client=user,
        body=types.File(payload=io.BytesIO(b"%PDF-1.7\n"), file_name="r.pdf"),
        x_filename=quote("r\u00e9sum\u00e9.pdf"),  # percent-encoded UTF-8
    )
    assert isinstance(raw, models.UploadRead) and raw.filename == "r\u00e9sum\u00e9.pdf", raw
    # Read, downloaded (bytes, whatever the stored type) and deleted by id.
    assert _api("uploads.uploads_read").sync(client=user, upload_id=raw.id) == raw
    content = _api("uploads.uploads_content").sync(client=user, upload_id=raw.id)
    assert content.payload.read() == b"%PDF-1.7\n", content
    removed = _api("uploads.uploads_delete").sync_detailed(client=user, upload_id=raw.id)
    assert removed.status_code == 204
    gone = _api("uploads.uploads_content").sync_detailed(client=user, upload_id=raw.id)
    assert gone.status_code == 404 and isinstance(gone.parsed, models.ErrorResponse)

    # Any format comes back as text (the document lists text first)...
    text = _api("bookings.bookings_export").sync(client=user, format_=models.ExportFormat.NDJSON)
    rows = [json.loads(line) for line in text.splitlines()]
    assert sorted(row["id"] for row in rows) == sorted(created)
    # ...and streams, as the README shows, through the client's own httpx client.
    params = {"format": "csv"}
    with user.get_httpx_client().stream("GET", "/api/bookings/export", params=params) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/csv")
        lines = list(stream.iter_lines())
    assert len(lines) == 1 + len(created)  # the header line, then one per row

    deleted = _api("bookings.bookings_delete").sync_detailed(client=user, booking_id=created[0])
    assert deleted.status_code == 204
    gone = _api("bookings.bookings_read").sync_detailed(client=user, booking_id=created[0])
    assert gone.status_code == 404 and isinstance(gone.parsed, models.ErrorResponse)
