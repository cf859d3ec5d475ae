"""Check the answers before anything is rendered.

cookiecutter.json's last private variable passes every answer through the
`checked_answers` filter. The filter runs once all prompts are answered and
before any directory exists: a refused answer prints one line per problem and
exits with status 1, with nothing generated and no traceback (a failing
pre-generation hook would make cookiecutter print its own traceback). The
answers are kept beside cookiecutter's replays, and the message gives the
command that asks again offering them, so a typo costs one answer, not all.

Choice prompts are not checked here: cookiecutter offers them as a menu, and
refuses a bad choice given on the command line before this runs.
"""

import json
import keyword
import operator
import re
import shlex
import sys
from pathlib import Path

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


def keep_answers(answers):
    """Write the public answers where cookiecutter keeps its replays, as a
    config file whose default_context offers them again; return its path.

    Not a replay file: a replay holds the derived values too (project_slug,
    the private variables), and a corrected answer would not reach them."""
    from cookiecutter.config import get_user_config

    config = get_user_config(config_file=_option("--config-file"))
    kept = {key: str(value) for key, value in answers.items() if not key.startswith("_")}
    template = Path(__file__).resolve().parent
    path = Path(config["replay_dir"]).expanduser() / f"{template.name}-answers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML, which cookiecutter reads its config files as.
    config["default_context"] = {**config["default_context"], **kept}
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _option(name):
    """The value of a command-line option of cookiecutter's, if given."""
    argv = sys.argv[1:]
    for index, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.partition("=")[2]
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
    return None


def rerun_command(path):
    """The command that asks again with the kept answers as defaults: the
    user's own command line when cookiecutter's CLI ran, plus --config-file."""
    argv = sys.argv[1:] if Path(sys.argv[0]).name.startswith(("cookiecutter", "__main__")) else []
    args, skip = [], False
    for arg in argv:  # the kept file replaces any config file given, and answers are asked
        if skip or arg.startswith("--config-file=") or arg == "--no-input":
            skip = False
            continue
        if arg == "--config-file":
            skip = True
            continue
        args.append(arg)
    if not argv:
        args = [str(Path(__file__).resolve().parent)]
    return shlex.join(["cookiecutter", "--config-file", str(path), *args])


@simple_filter
def checked_answers(answers):
    """The answers, unchanged; or exit with one line per refused answer,
    the answers kept and the command that asks again with them."""
    errors = answer_errors(dict(answers))
    if errors:
        print("lean-fastapi: invalid answers, nothing was generated:", file=sys.stderr)
        for message in errors:
            print(f"  - {message}", file=sys.stderr)
        try:
            path = keep_answers(dict(answers))
        except OSError as exc:
            print(f"(your answers could not be kept: {exc})", file=sys.stderr)
        else:
            print(
                f"Your answers are kept in {path}. To answer again, each prompt offering "
                f"your answer (press Enter to keep it, or correct it):\n  {rerun_command(path)}",
                file=sys.stderr,
            )
        sys.exit(1)
    return ""
