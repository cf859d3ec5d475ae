"""Remove the files of the variants that were not chosen.

MANIFEST is the single declarative list of variant-only files: for each
(prompt, value), the paths that exist only when that value was chosen. The
template's tests check that every listed path exists in the template, and
that every migration of the example's tables is listed with it, so the list
cannot silently rot. No network access here.
"""

import json
import shutil
from pathlib import Path

# Paths are relative to the generated project; "{slug}" is the package name.
MANIFEST = {
    ("with_docker", "yes"): [
        "Dockerfile",
        ".dockerignore",
        "docker-compose.yml",
        "deploy",
    ],
    # The example resources; without them the registry is empty, ready for
    # `new-resource`, and a test adds a resource to a copy of the project.
    ("example_domain", "bookings"): [
        "src/{slug}/resources/bookings.py",
        "src/{slug}/resources/venues.py",
        "src/{slug}/routers/bookings.py",
        "src/{slug}/routers/admin_bookings.py",
        "src/{slug}/routers/venues.py",
        "src/{slug}/migrations/versions/0004_example_bookings.py",
        "src/{slug}/migrations/versions/0005_example_booking_filters.py",
        "src/{slug}/seed.py",
        "tests/example.py",
        "tests/test_bookings.py",
        "tests/test_admin_and_venues.py",
        "tests/test_bookings_cli.py",
        "tests/test_bookings_instances.py",
        "tests/test_bookings_memory.py",
        "tests/test_bookings_openapi.py",
        "tests/test_bookings_reliability.py",
        "tests/test_bookings_security.py",
        "tests/test_export_copy.py",
        "tests/test_export.py",
        "tests/test_export_stall.py",
        "tests/test_date_range.py",
        "tests/test_indexes.py",
        "tests/test_pagination.py",
        "tests/test_request_path.py",
    ],
    ("example_domain", "none"): [
        "tests/test_added_resource.py",
    ],
    ("with_prometheus", "yes"): [
        "src/{slug}/web/metrics.py",
        "tests/test_metrics.py",
    ],
    ("with_opentelemetry", "yes"): [
        "src/{slug}/web/telemetry.py",
        "tests/test_telemetry.py",
    ],
}


def paths_to_remove(answers):
    """Every manifest path whose (prompt, value) was not chosen."""
    slug = answers["project_slug"]
    return [
        path.format(slug=slug)
        for (prompt, value), paths in MANIFEST.items()
        if answers[prompt] != value
        for path in paths
    ]


def next_steps(answers, root):
    """What to run next, printed once the project is complete."""
    cli = answers["__cli_name"]
    server = "" if answers["database"] == "sqlite" else " (with PostgreSQL at DATABASE_URL)"
    return (
        f"Generated {root}. Next{server}:\n"
        f"  cd {root}\n"
        "  python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'\n"
        f"  .venv/bin/{cli} migrate && .venv/bin/{cli} serve\n"
        "Its README.md has the tests, the settings and how to add a resource."
    )


def main():
    answers = json.loads(r'{{ cookiecutter | tojson }}')  # fmt: skip
    root = Path.cwd()
    for relative in paths_to_remove(answers):
        target = root / relative
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    print(next_steps(answers, root))


if __name__ == "__main__":
    main()
