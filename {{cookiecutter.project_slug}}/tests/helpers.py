"""Small builders shared by the tests."""

from datetime import UTC, datetime, timedelta

BASE = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def booking_body(title: str = "Quarterly review", hours_from_base: int = 0, **extra) -> dict:
    start = BASE + timedelta(hours=hours_from_base)
    return {
        "title": title,
        "start_datetime": start.isoformat(),
        "end_datetime": (start + timedelta(hours=1)).isoformat(),
        **extra,
    }


def assert_error(response, status: int, code: str) -> dict:
    """The service's JSON error shape, with the expected status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
