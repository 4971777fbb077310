#!/usr/bin/env python3
"""Import graph of the project's packages (textmine, flows): modules, project imports, imports inside
functions, cycles (strongly connected components) and levels (longest chain below a module)."""
import ast, sys
from pathlib import Path

ALL = "--all" in sys.argv  # edges of imports inside functions too
root = Path([a for a in sys.argv[1:] if a != "--all"][0] if len(sys.argv) > 1 else ".")
mods = {}
for top in ("textmine", "flows"):
    for p in (root / top).rglob("*.py"):
        name = ".".join(p.relative_to(root).with_suffix("").parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        mods[name] = p

def resolve(target):
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None

edges, inside = {m: set() for m in mods}, 0
total = 0
for m, p in mods.items():
    tree = ast.parse(p.read_text())
    pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    in_func = {id(n) for f in funcs for n in ast.walk(f)}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        hits = [r for r in map(resolve, targets) if r and r != m and r.split(".")[0] in ("textmine", "flows")]
        if hits:  # one import statement, however many names it brings
            total += 1
            inside += id(node) in in_func
            if id(node) not in in_func or ALL:
                edges[m].update(hits)
# Tarjan SCC
index, low, stack, on, sccs, i = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in mods:
    if v not in index: strong(v)
cycles = [c for c in sccs if len(c) > 1]
level = {}
def lvl(v, seen=()):
    if v in level: return level[v]
    if v in seen: return 0
    level[v] = 1 + max((lvl(w, seen + (v,)) for w in edges[v]), default=0)
    return level[v]
for v in mods: lvl(v)
print(f"modules {len(mods)}, project imports {total}, inside functions {inside}, cycles {len(cycles)}, "
      f"module levels {max(level.values())}")
for c in cycles: print("cycle:", sorted(c))
pk = {}
for m in mods:
    parts = m.split(".")
    key = ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and (root / m.replace('.', '/')).is_dir()) else parts[0]
    pk.setdefault(key, []).append(m)
print("files per package:", ", ".join(f"{k} {len(v)}" for k, v in sorted(pk.items())))
