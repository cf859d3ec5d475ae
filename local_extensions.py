"""Check the answers before anything is rendered.

cookiecutter.json's last private variable passes every answer through the
`checked_answers` filter. The filter runs once all prompts are answered and
before any directory exists: a refused answer prints one line per problem and
exits with status 1, with nothing left behind and no traceback (a failing
pre-generation hook would make cookiecutter print its own traceback).

Choice prompts are not checked here: cookiecutter offers them as a menu, and
refuses a bad choice given on the command line before this runs.
"""

import keyword
import operator
import re
import sys

from cookiecutter.utils import simple_filter

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Long enough for any real package name; short enough that every generated
# line that names the package stays within the formatter's line length.
SLUG_MAX = 40

# prompt -> (smallest, largest or None): every numeric prompt is an integer.
NUMBERS = {
    "memory_threshold_percent": (1, 99),
    "memory_critical_percent": (1, 99),
    "max_body_size_mb": (1, None),
    "max_upload_size_mb": (1, None),
    "db_pool_size": (1, None),
    "db_max_overflow": (0, None),
    "default_page_size": (1, None),
    "max_page_size": (1, None),
    "gc_interval_seconds": (0, None),
}

# (prompt, relation, other prompt): how two numbers must compare.
ORDER = [
    ("memory_critical_percent", "greater than", "memory_threshold_percent"),
    ("default_page_size", "at most", "max_page_size"),
]
RELATIONS = {"greater than": operator.gt, "at most": operator.le}


def _slug_error(answers):
    slug = answers["project_slug"]
    if slug == "-":  # cookiecutter.json's marker for a name that slugifies to nothing
        return (
            f"project_slug: project_name {answers['project_name']!r} gives an empty slug, allowed: "
            "a name with letters or digits, or a project_slug that is a lowercase Python identifier"
        )
    if not SLUG_RE.match(slug) or keyword.iskeyword(slug):
        return (
            f"project_slug: got {slug!r}, allowed: a lowercase Python identifier "
            "(a letter first, then letters, digits or underscores; not a keyword)"
        )
    if len(slug) > SLUG_MAX:
        return f"project_slug: got {slug!r} ({len(slug)} characters), allowed: at most {SLUG_MAX} characters"
    if slug in sys.stdlib_module_names:
        return f"project_slug: got {slug!r}, allowed: a name that does not shadow the standard library module {slug!r}"
    return None


def _number(answers, name):
    """(value or None, error or None) for one numeric prompt."""
    low, high = NUMBERS[name]
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    raw = str(answers[name]).strip()
    try:
        value = int(raw)
    except ValueError:
        return None, f"{name}: got {raw!r}, allowed: {allowed}"
    if value < low or (high is not None and value > high):
        return None, f"{name}: got {value}, allowed: {allowed}"
    return value, None


def answer_errors(answers):
    """One message per refused answer, each naming the prompt, the value and what is allowed."""
    errors = [error] if (error := _slug_error(answers)) else []
    values = {}
    for name in NUMBERS:
        values[name], error = _number(answers, name)
        errors += [error] if error else []
    for name, relation, other in ORDER:
        value, bound = values[name], values[other]
        if value is not None and bound is not None and not RELATIONS[relation](value, bound):
            errors.append(f"{name}: got {value}, allowed: {relation} {other} ({bound})")
    return errors


@simple_filter
def checked_answers(answers):
    """The answers, unchanged; or exit with one line per refused answer."""
    errors = answer_errors(dict(answers))
    if errors:
        print("lean-fastapi: invalid answers, nothing was generated:", file=sys.stderr)
        for message in errors:
            print(f"  - {message}", file=sys.stderr)
        sys.exit(1)
    return ""
