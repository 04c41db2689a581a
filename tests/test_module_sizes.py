"""No class in gilfree is longer than 250 lines and no module longer than 700.

Read with ``ast`` from the installed package (the tests never import the
source tree), every ``.py`` module and every class in it, nested ones too.
A module or class that outgrows its limit is a sign that it does two jobs:
split it rather than raise the limit.
"""

import ast
import pathlib

import pytest

import gilfree

ROOT = pathlib.Path(gilfree.__file__).resolve().parent
MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 250
MODULES = sorted(ROOT.rglob("*.py"))


def _name(path):
    return path.relative_to(ROOT.parent).as_posix()


def test_the_installed_package_has_modules():
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_and_class_sizes(path):
    text = path.read_text(encoding="utf-8")
    n = len(text.splitlines())
    assert n <= MAX_MODULE_LINES, (
        f"{_name(path)} has {n} lines (at most {MAX_MODULE_LINES}): split it")
    too_long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text, str(path)))
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    ]
    assert not too_long, (
        f"classes of {_name(path)} longer than {MAX_CLASS_LINES} lines (split them): "
        + "; ".join(too_long))
