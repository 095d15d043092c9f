"""Every DynamoDB expression in the package names attributes through ``#placeholders``.

DynamoDB refuses an expression that names a reserved word (``domain``, ``status``,
``ttl``, ... 573 of them) directly, moto accepts it, and dynalite only catches the
calls the tests happen to make. So the source is read with ``ast``: every string
passed as a ``*Expression`` keyword argument, dict value or subscript, followed
through local variables and function parameters to the literals it comes from,
must name attributes only as ``#name`` (values as ``:name``). An expression that
cannot be followed back to literals fails too: it could not be checked.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "bannercheck" / "bannercheck"
EXPRESSION_KEYS = frozenset(
    {
        "KeyConditionExpression",
        "FilterExpression",
        "UpdateExpression",
        "ProjectionExpression",
        "ConditionExpression",
    }
)
# The expression grammar's own words (case-insensitive in DynamoDB) and functions.
WORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "ADD", "REMOVE", "DELETE"})
FUNCTIONS = frozenset(
    {
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "contains",
        "size",
        "if_not_exists",
        "list_append",
    }
)
TOKEN = re.compile(r"([#:]?)([A-Za-z_][A-Za-z0-9_]*)(\s*\()?")


@dataclass(frozen=True)
class Fragment:
    line: int
    text: str | None  # None: not a literal the scan could follow


def check_expression(text: str) -> list[str]:
    """The bare attribute names in one expression (or fragment of one)."""
    bare = []
    for prefix, name, call in TOKEN.findall(text):
        if prefix or name.upper() in WORDS or (name in FUNCTIONS and call):
            continue
        bare.append(name)
    return bare


class _Module:
    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)
        self.parents = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }
        self.calls = [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)]

    def _scope(self, node: ast.AST) -> ast.AST:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return self.tree

    def _arguments(self, function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> list:
        """What the module's calls of ``function`` pass as its parameter ``name``."""
        positional = [a.arg for a in function.args.posonlyargs + function.args.args]
        if positional[:1] in (["self"], ["cls"]):
            positional = positional[1:]
        found = []
        for call in self.calls:
            callee = call.func
            called = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", None)
            if called != function.name:
                continue
            if name in positional and positional.index(name) < len(call.args):
                found.append(call.args[positional.index(name)])
            found += [k.value for k in call.keywords if k.arg == name]
        return found

    def resolve(self, value: ast.expr, depth: int = 0) -> list[Fragment]:
        """The literal strings ``value`` is built from."""
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return [Fragment(value.lineno, value.value)]
        if depth < 8 and isinstance(value, ast.JoinedStr):
            return [f for part in value.values for f in self.resolve(part, depth + 1)]
        if depth < 8 and isinstance(value, ast.FormattedValue):
            return self.resolve(value.value, depth + 1)
        if depth < 8 and isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
            return self.resolve(value.left, depth + 1) + self.resolve(value.right, depth + 1)
        if depth < 8 and isinstance(value, ast.IfExp):
            return self.resolve(value.body, depth + 1) + self.resolve(value.orelse, depth + 1)
        if depth < 8 and isinstance(value, ast.Name):
            scope = self._scope(value)
            assigned = [
                node.value
                for node in ast.walk(scope)
                if isinstance(node, ast.Assign | ast.AnnAssign)
                and node.value is not None
                and any(
                    isinstance(t, ast.Name) and t.id == value.id
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                )
            ]
            if not assigned and isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                assigned = self._arguments(scope, value.id)
            if assigned:
                return [f for node in assigned for f in self.resolve(node, depth + 1)]
        return [Fragment(value.lineno, None)]

    def expressions(self) -> list[Fragment]:
        """Every fragment of every expression passed to DynamoDB in the module."""
        values: list[ast.expr] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.keyword) and node.arg in EXPRESSION_KEYS:
                values.append(node.value)
            elif isinstance(node, ast.Dict):
                values += [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value in EXPRESSION_KEYS
                ]
            elif isinstance(node, ast.Assign):
                values += [
                    node.value
                    for t in node.targets
                    if isinstance(t, ast.Subscript)
                    and isinstance(t.slice, ast.Constant)
                    and t.slice.value in EXPRESSION_KEYS
                ]
        return [f for value in values for f in self.resolve(value)]


def to_violations(source: str, filename: str = "<snippet>") -> tuple[int, list[str]]:
    """(fragments seen, what is wrong with them) for one module's source."""
    fragments = _Module(source).expressions()
    wrong = []
    for f in fragments:
        if f.text is None:
            wrong.append(f"{filename}:{f.line}: an expression not built from literals")
        elif bare := check_expression(f.text):
            wrong.append(f"{filename}:{f.line}: {f.text!r} names {bare} without '#'")
    return len(fragments), wrong


def test_every_expression_in_the_package_uses_name_placeholders() -> None:
    seen: dict[str, int] = {}
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        count, problems = to_violations(path.read_text(), str(path.relative_to(PACKAGE)))
        seen[path.name] = count
        wrong += problems
    assert not wrong, "\n".join(wrong)
    # The scan found the expressions it is meant to check, so passing means something.
    assert all(seen[name] for name in ("store.py", "audit.py", "ratelimit.py")), seen


BAD = [
    'client.query(KeyConditionExpression="domain = :d")',
    'client.scan(FilterExpression="attribute_exists(status)")',
    'kwargs = {"ProjectionExpression": "#pk, checked_at"}',
    'kwargs["UpdateExpression"] = "SET ttl = :t"',
    'client.put_item(ConditionExpression=f"attribute_not_exists({key})")\nkey = "pk"',
    'def q(expr):\n    client.query(KeyConditionExpression=expr)\nq("#pk = :p AND sk > :s")',
    "class S:\n    def q(self, e):\n        query(FilterExpression=e)\n"
    "    def r(self):\n        self.q(e='#a = :a OR size(b) > :n')",
    'expr = "#pk = :p" if x else "domain = :d"\nquery(KeyConditionExpression=expr)',
    "client.query(KeyConditionExpression=make_expression())",
]
GOOD = [
    'client.query(KeyConditionExpression="#pk = :pk AND begins_with(#sk, :p)")',
    'kwargs = {"ConditionExpression": "attribute_not_exists(#pk) OR #ttl < :now"}',
    'client.update_item(UpdateExpression="ADD #n :one SET #t = :t REMOVE #x")',
    'def q(expr):\n    client.query(KeyConditionExpression=expr)\nq("#pk = :p AND #sk > :s")',
]


@pytest.mark.parametrize("source", BAD)
def test_a_bare_or_untraceable_attribute_name_is_caught(source: str) -> None:
    count, wrong = to_violations(source)
    assert count and wrong, source


@pytest.mark.parametrize("source", GOOD)
def test_placeholders_pass(source: str) -> None:
    count, wrong = to_violations(source)
    assert count >= 1 and wrong == [], source
