"""Validate the answers before anything is rendered.

Cookiecutter deletes the half-made output directory when this hook exits
non-zero, so a refused answer leaves nothing behind.
"""

import json
import keyword
import re
import sys

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Long enough for any real package name; short enough that every generated
# line that names the package stays within the formatter's line length.
SLUG_MAX = 40


def _int(answers, name, errors, minimum, maximum=None):
    raw = str(answers[name]).strip()
    allowed = (
        f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    )
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"{name}: got {raw!r}, allowed: {allowed}")
        return None
    if value < minimum or (maximum is not None and value > maximum):
        errors.append(f"{name}: got {value}, allowed: {allowed}")
        return None
    return value


def _choice(answers, name, errors, allowed):
    if answers[name] not in allowed:
        errors.append(f"{name}: got {answers[name]!r}, allowed: {', '.join(allowed)}")


def validate(answers):
    """Return a list of messages, one per refused answer (empty when all are valid)."""
    errors = []
    slug = answers["project_slug"]
    if slug == "-":  # cookiecutter.json's marker for a name that slugifies to nothing
        errors.append(
            f"project_slug: project_name {answers['project_name']!r} gives an empty slug, allowed: "
            "a name with letters or digits, or a project_slug that is a lowercase Python identifier"
        )
    elif not SLUG_RE.match(slug) or keyword.iskeyword(slug):
        errors.append(
            f"project_slug: got {slug!r}, allowed: a lowercase Python identifier "
            "(a letter first, then letters, digits or underscores; not a keyword)"
        )
    elif len(slug) > SLUG_MAX:
        errors.append(
            f"project_slug: got {slug!r} ({len(slug)} characters), allowed: at most {SLUG_MAX} characters"
        )
    elif slug in sys.stdlib_module_names:
        errors.append(
            f"project_slug: got {slug!r}, allowed: a name that does not shadow the standard library module {slug!r}"
        )

    _choice(answers, "database", errors, ["sqlite", "postgresql"])
    _choice(answers, "with_prometheus", errors, ["yes", "no"])
    _choice(answers, "with_opentelemetry", errors, ["yes", "no"])
    _choice(answers, "with_docker", errors, ["yes", "no"])

    threshold = _int(answers, "memory_threshold_percent", errors, 1, 99)
    critical = _int(answers, "memory_critical_percent", errors, 1, 99)
    if threshold is not None and critical is not None and critical <= threshold:
        errors.append(
            f"memory_critical_percent: got {critical}, allowed: greater than memory_threshold_percent ({threshold})"
        )
    for name in ("max_body_size_mb", "max_upload_size_mb", "db_pool_size"):
        _int(answers, name, errors, 1)
    _int(answers, "db_max_overflow", errors, 0)
    _int(answers, "gc_interval_seconds", errors, 0)
    default_page = _int(answers, "default_page_size", errors, 1)
    max_page = _int(answers, "max_page_size", errors, 1)
    if default_page is not None and max_page is not None and default_page > max_page:
        errors.append(
            f"default_page_size: got {default_page}, allowed: at most max_page_size ({max_page})"
        )
    return errors


def main():
    # tojson escapes quotes, so the raw string below can hold any answer safely.
    answers = json.loads(r'{{ cookiecutter | tojson }}')  # fmt: skip
    errors = validate(answers)
    if errors:
        print("lean-fastapi: invalid answers, nothing was generated:", file=sys.stderr)
        for message in errors:
            print(f"  - {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
