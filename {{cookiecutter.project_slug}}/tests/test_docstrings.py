"""Every name a docstring cites exists, so a docstring cannot outlive what it
describes (a module once documented a function it no longer had).

Checked in the docstrings of the package and the tests: a call, `name()`,
names something the code uses; `module.name` and `Class.name` resolve in this
package; a file (`memory/heap.py`, `docs/design-notes.md`) is one of the
project's, and a design-notes section cited by name is a heading there. Other
libraries' names and plain prose are not this project's to check; migrations
are left alone, as they describe the schema of their day.
"""

import ast
import builtins
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.project_slug }}"
SOURCE = PROJECT / "src" / PACKAGE
NOTES = PROJECT / "docs" / "design-notes.md"
HISTORY = SOURCE / "migrations" / "versions"

# A function cited as name(): not after a dot (a.b() is a dotted name). With
# arguments it is an example (a call, SQL's NUMERIC(p, s)), not a citation.
CALL = re.compile(r"(?<![\w.$])([A-Za-z_]\w*)\(\)")
# a.b.c, not part of a path, a host name or an e-mail address.
DOTTED = re.compile(r"(?<![\w.@/$-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w/-])")
FILE = re.compile(r"(?<![\w./<$-])((?:[\w-]+/)*[\w-]+\.(?:py|md|ini|toml|html|ya?ml))(?![\w/])")
SECTION = re.compile(r"design-notes\.md,\s+\"([^\"]+)\"")
BUILTINS = set(dir(builtins))


@dataclass
class Code:
    """What the project defines and uses, read from its sources (nothing is imported)."""

    modules: dict[str, list[ast.Module]] = field(default_factory=dict)  # by dotted tail
    classes: dict[str, list[ast.ClassDef]] = field(default_factory=dict)
    words: set[str] = field(default_factory=set)  # identifiers and words in code strings
    attributes: set[str] = field(default_factory=set)  # every `.name` the code reads or sets
    files: list[str] = field(default_factory=list)  # relative to the project


def python_files() -> list[Path]:
    paths = [*SOURCE.rglob("*.py"), *(PROJECT / "tests").rglob("*.py")]
    return sorted(path for path in paths if "__pycache__" not in path.parts)


def project_files() -> list[str]:
    """Every file of the project, relative to it (no hidden, cache or venv folders)."""
    files = []
    for directory, subdirectories, names in os.walk(PROJECT):
        subdirectories[:] = [
            name
            for name in subdirectories
            if name[0] not in "._" and not Path(directory, name, "pyvenv.cfg").exists()
        ]
        files += [str(Path(directory, name).relative_to(PROJECT)) for name in names]
    return files


def dotted_tails(path: Path) -> list[str]:
    """<package>/memory/heap.py -> <package>.memory.heap, memory.heap, heap."""
    relative = path.relative_to(SOURCE.parent if path.is_relative_to(SOURCE) else PROJECT)
    parts = [part for part in relative.with_suffix("").parts if part != "__init__"]
    return [".".join(parts[start:]) for start in range(len(parts))]


def docstrings(tree: ast.Module) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0].value if node.body and isinstance(node.body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first


def words_used(tree: ast.Module) -> set[str]:
    """Identifiers in the code, and the words of its strings (SQL, getattr
    names) but not of its docstrings: a name only prose mentions is missing."""
    prose = {id(constant) for constant in docstrings(tree)}
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            words |= set(re.findall(r"\w+", node.value))
        for attribute in ("id", "attr", "name", "arg", "asname"):
            if isinstance(value := getattr(node, attribute, None), str):
                words |= set(value.split("."))
    return words


def read_code() -> Code:
    code = Code(files=project_files())
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        code.words |= words_used(tree)
        code.attributes |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for tail in dotted_tails(path):
            code.modules.setdefault(tail, []).append(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                code.classes.setdefault(node.name, []).append(node)
    return code


def bound_names(body: list[ast.stmt]) -> set[str]:
    """The names a module or class body binds (in its branches too)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        for branch in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names |= bound_names(getattr(node, branch, []))
    return names


def members(code: Code, cls: ast.ClassDef) -> set[str] | None:
    """A class's attributes (self.x set in its methods too, and its project
    bases'); None if a base is another library's, whose members are unknown here."""
    names = bound_names(cls.body) | {
        node.attr
        for node in ast.walk(cls)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }
    for base in cls.bases:
        parents = code.classes.get(base.id, []) if isinstance(base, ast.Name) else []
        inherited = [members(code, parent) for parent in parents if parent is not cls]
        known = [found for found in inherited if found is not None]
        if not inherited or len(known) < len(inherited):
            return None
        names = names.union(*known)
    return names


def has_member(code: Code, classes: list[ast.ClassDef], name: str) -> bool:
    for cls in classes:
        found = members(code, cls)
        if found is None or name in found:  # another library's base: cannot tell
            return True
    return False


def resolves(code: Code, reference: str) -> bool | None:
    """Whether a name of this package exists; None for a name of anything else."""
    parts = reference.split(".")
    for split in range(len(parts), 0, -1):
        if trees := code.modules.get(".".join(parts[:split])):
            rest = parts[split:]
            # Else an attribute of a variable named like a module (`app.state`).
            found = any(in_module(code, tree, rest) for tree in trees)
            return found or all(part in code.attributes for part in rest)
    if parts[0] in code.classes:
        return has_member(code, code.classes[parts[0]], parts[1])
    return None


def in_module(code: Code, tree: ast.Module, rest: list[str]) -> bool:
    if not rest:
        return True
    if rest[0] not in bound_names(tree.body):
        return False
    named = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == rest[0]]
    return len(rest) == 1 or not named or has_member(code, named, rest[1])


def cites(text: str) -> Iterator[tuple[str, str, int]]:
    """(kind, reference, line within the text) of each reference in a docstring."""
    # File names blanked out, so their dots are not read as names (same length).
    names = FILE.sub(lambda match: " " * len(match.group()), text)
    for kind, pattern, searched in (
        ("file", FILE, text),
        ("section", SECTION, text),
        ("name", DOTTED, names),
        ("function", CALL, names),
    ):
        for match in pattern.finditer(searched):
            yield kind, match.group(1), text.count("\n", 0, match.start())


def headings() -> set[str]:
    lines = NOTES.read_text(encoding="utf-8").splitlines()
    return {line.lstrip("#").strip().strip("`") for line in lines if line.startswith("#")}


def is_missing(code: Code, kind: str, reference: str, sections: set[str]) -> bool:
    if kind == "file":
        return not any(f"/{path}".endswith(f"/{reference}") for path in code.files)
    if kind == "section":
        return reference not in sections
    if kind == "name":
        return resolves(code, reference) is False
    return reference not in code.words and reference not in BUILTINS


def test_every_name_a_docstring_cites_exists():
    code, sections = read_code(), headings()
    missing = []
    for path in python_files():
        if path.is_relative_to(HISTORY):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for docstring in docstrings(tree):
            for kind, reference, line in cites(str(docstring.value)):
                if is_missing(code, kind, reference, sections):
                    where = f"{path.relative_to(PROJECT)}:{docstring.lineno + line}"
                    missing.append(f"{where}: no {kind} {reference!r}")
    assert missing == [], "\n".join(missing)
