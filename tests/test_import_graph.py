"""No import cycles in the tsss_tf package.

Every module of the package is parsed with `ast` (nothing is imported) and each `import` /
`from ... import` of a `tsss_tf` name becomes an edge, wherever it stands (module level, inside
a function, under `if TYPE_CHECKING:`). An edge goes to the module named: `from a.b import c`
to `a.b.c` when that is a module, else to `a.b`; `import a.b.c` to `a.b.c`. The parent packages
that Python initialises first (`a`, `a.b`) are not edges: a package whose `__init__` re-exports
its modules would otherwise be a cycle with each of them.

A cycle is a strongly connected component of that graph (two or more modules that import each
other, at any depth, or a module that imports itself). Any cycle fails the test.
"""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "tsss_tf"


def package_modules(root, package):
    """{dotted module name: (path, is_package)} of every .py file under root/package."""
    modules = {}
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, package)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        parts = os.path.relpath(dirpath, root).split(os.sep)
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            if fn == "__init__.py":
                modules[".".join(parts)] = (os.path.join(dirpath, fn), True)
            else:
                modules[".".join(parts + [fn[:-3]])] = (os.path.join(dirpath, fn), False)
    return modules


def _in_package(name, package):
    return name == package or name.startswith(package + ".")


def _owning_module(name, modules):
    """The longest prefix of the dotted `name` that is a module (`a.b.func` -> `a.b`)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def module_imports(name, modules, package):
    """The set of package modules that module `name` imports (see the module doc)."""
    path, is_package = modules[name]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of this module, `level - 1` up
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if _in_package(target, package):
                owner = _owning_module(target, modules)
                if owner is not None:
                    found.add(owner)
    return found


def import_graph(root=REPO, package=PACKAGE):
    """{module: set of the package modules it imports}."""
    modules = package_modules(root, package)
    return {name: module_imports(name, modules, package) for name in modules}


def import_cycles(graph):
    """The strongly connected components of `graph` that are cycles, as frozensets (Tarjan's
    algorithm, iterative)."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], set()
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    cycles.add(frozenset(component))
    return cycles


def cycle_path(graph, component):
    """One cycle through the first module of `component`, as a list of modules (for messages)."""
    start = min(component)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for child in sorted(graph[path[-1]]):
            if child == start:
                return path + [start]
            if child in component and child not in seen:
                seen.add(child)
                paths.append(path + [child])
    return sorted(component)


def _describe(graph, cycles):
    return "\n".join("  " + " -> ".join(cycle_path(graph, c))
                     for c in sorted(cycles, key=sorted))


def test_the_graph_covers_the_package():
    graph = import_graph()
    assert len(graph) > 50
    assert "tsss_tf.models.lnet" in graph["tsss_tf.models"]
    assert "tsss_tf.errors" in graph["tsss_tf.training.restore"]
    # `from tsss_tf.data.sources import find_undecodable_image` inside a function of flags
    assert "tsss_tf.data.sources" in graph["tsss_tf.flags"]


def test_no_import_cycles():
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, (f"{len(cycles)} import cycle(s) in {PACKAGE} (each: one path around "
                        f"it):\n{_describe(graph, cycles)}")


# ---------------------------------------------------------------- the checker on a known tree


def _write(root, rel, text):
    path = os.path.join(root, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_the_checker_finds_cycles_at_any_depth_and_in_functions(tmp_path):
    root = str(tmp_path)
    _write(root, "pkg/__init__.py", "from pkg.a import f\n")
    _write(root, "pkg/a.py", "import os\nfrom pkg.sub import b\n\ndef f():\n    pass\n")
    _write(root, "pkg/sub/__init__.py", "")
    _write(root, "pkg/sub/b.py", "from ..c import g\n")                 # relative
    _write(root, "pkg/c.py", "def g():\n    import pkg.a as a\n    return a\n")  # in a function
    _write(root, "pkg/d.py", "from pkg import c\nfrom pkg.sub.b import *\n")
    _write(root, "pkg/e.py", "import pkg.e\n")                          # itself
    graph = import_graph(root, "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(),
                     "pkg.sub.b": {"pkg.c"}, "pkg.c": {"pkg.a"}, "pkg.d": {"pkg.c", "pkg.sub.b"},
                     "pkg.e": {"pkg.e"}}
    cycles = import_cycles(graph)
    assert cycles == {frozenset({"pkg.a", "pkg.sub.b", "pkg.c"}), frozenset({"pkg.e"})}
    assert cycle_path(graph, frozenset({"pkg.a", "pkg.sub.b", "pkg.c"})) == [
        "pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
