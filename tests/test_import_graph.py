"""gilfree's modules import each other one way only: no cycles.

The installed package's sources are read with ``ast``; every import of a
gilfree module counts, at module level and inside functions alike (a
function-level import that closes a cycle is a cycle too, only a lazy one).
``from . import x`` counts as an import of ``gilfree.x`` when ``x`` is a
module, else of the package; importing a package also runs its
``__init__``, which is an edge of its own.
"""

import ast
import pathlib

import gilfree

ROOT = pathlib.Path(gilfree.__file__).resolve().parent

#: Cycles outside gilfree.parallel and gilfree.distributed that are still
#: being taken apart (function-level imports, harmless at run time but two
#: modules that depend on each other).  Each must still exist: remove it
#: here when it is gone; nothing may be added.
KNOWN_CYCLES = set()  # none: keep it that way


def _modules():
    """``{module name: path}`` of every .py module of the installed package."""
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = ["gilfree", *rel.parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name, level, module, is_package):
    if not level:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _edges(modules):
    graph = {m: set() for m in modules}
    for mod, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module, node.level, mod, is_package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for t in targets:
                # the innermost gilfree module the name is (or is in)
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def _cycle(graph):
    """One import cycle (a list of modules, first == last), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack = []

    def visit(m):
        colour[m] = grey
        stack.append(m)
        for n in sorted(graph[m]):
            if colour[n] == grey:
                return stack[stack.index(n):] + [n]
            if colour[n] == white:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        colour[m] = black
        return None

    for m in sorted(graph):
        if colour[m] == white:
            found = visit(m)
            if found:
                return found
    return None


def test_the_installed_package_has_modules_to_check():
    modules = _modules()
    assert "gilfree.parallel._api" in modules
    assert "gilfree.distributed" in modules
    graph = _edges(modules)
    assert "gilfree.parallel._errors" in graph["gilfree.parallel._api"]


def _cycles(graph):
    """Every cycle found, one edge of each removed in turn until none is
    left (the modules of each)."""
    graph = {m: set(e) for m, e in graph.items()}
    out = []
    while (cycle := _cycle(graph)) is not None:
        out.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])
    return out


def test_no_import_cycles():
    cycles = _cycles(_edges(_modules()))
    new = [c for c in cycles if frozenset(c) not in KNOWN_CYCLES]
    assert not new, "import cycle(s):\n" + "\n".join(" -> ".join(c) for c in new)
    gone = KNOWN_CYCLES - {frozenset(c) for c in cycles}
    assert not gone, f"no longer cycles, remove them from KNOWN_CYCLES: {gone}"


def test_parallel_and_distributed_have_no_cycles():
    cycles = _cycles(_edges(_modules()))
    ours = [c for c in cycles
            if any(m.startswith(("gilfree.parallel", "gilfree.distributed")) for m in c)]
    assert not ours, "import cycle(s):\n" + "\n".join(" -> ".join(c) for c in ours)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
