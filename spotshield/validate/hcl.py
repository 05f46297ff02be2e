"""Terraform modules read with python-hcl2 (no provider needed): the loader the policy and
contract checks share. `load_stack(repo)` parses every module under terraform/ (the root,
modules/*, examples/*); a syntax error is one SpotShieldError line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotshield.errors import SpotShieldError

MODULE_META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}
_REF = re.compile(r"\b(var|local|module)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?")
_WHOLE = re.compile(r"^\$\{(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?\}$")
# ${var.x == "LITERAL" ? a : b}, the one conditional shape resolve() evaluates (under an assumption)
_COND = re.compile(r'^\$\{var\.([A-Za-z_][A-Za-z0-9_-]*) == "([^"]*)" \? (.+?) : (.+)\}$')
_LITERALS = {"null": None, "true": True, "false": False}


@dataclass
class Module:
    """The blocks of one Terraform module (all its .tf files merged)."""

    path: Path
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    other: list[dict] = field(default_factory=list)  # terraform, provider, data blocks

    def resources_of(self, rtype: str) -> list[tuple[str, dict]]:
        return [(name, body) for (t, name), body in self.resources.items() if t == rtype]

    def resolve(self, value: Any, assume: dict | None = None, depth: int = 0) -> Any:
        """Follow a whole-value `${local.x}` (or `${local.x.key}` of a map) to its definition;
        `${var.x}` becomes ("var", x), or assume[x] when given. `${var.x == "L" ? a : b}` picks
        its branch when `assume` holds x (how a template switched by a variable is checked in
        each of its modes)."""
        assume = assume or {}
        if isinstance(value, str) and depth < 10:
            c = _COND.match(value)
            if c and c.group(1) in assume:
                branch = (c.group(3) if assume[c.group(1)] == c.group(2) else c.group(4)).strip()
                return self.resolve(_as_value(branch), assume, depth + 1)
            m = _WHOLE.match(value)
            if m and m.group(1) == "local" and m.group(2) in self.locals:
                base = self.resolve(self.locals[m.group(2)], assume, depth + 1)
                if m.group(3) is None:
                    return base
                return self.resolve(base.get(m.group(3)), assume, depth + 1) if isinstance(base, dict) else value
            if m and m.group(1) == "var" and m.group(3) is None:
                return assume[m.group(2)] if m.group(2) in assume else ("var", m.group(2))
        return value


def _as_value(expr: str) -> Any:
    """A branch of a conditional as python-hcl2 would give it on its own."""
    if expr in _LITERALS:
        return _LITERALS[expr]
    if len(expr) >= 2 and expr[0] == expr[-1] == '"':
        return expr[1:-1]
    return "${" + expr + "}"


def load_file(path: Path) -> dict:
    import hcl2
    from hcl2 import SerializationOptions

    opts = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    try:
        with open(path) as f:
            return hcl2.load(f, serialization_options=opts)
    except OSError as e:
        raise SpotShieldError(f"cannot read {path}: {e.strerror}") from None
    except Exception as e:  # lark raises several types; all mean a syntax error
        first = " ".join(str(e).split())[:200]
        raise SpotShieldError(f"cannot parse {path}: {first}") from None


def load_module(path: Path) -> Module:
    mod = Module(path=path)
    for tf in sorted(path.glob("*.tf")):
        tree = load_file(tf)
        for block in tree.get("variable", []):
            mod.variables.update(block)
        for block in tree.get("locals", []):
            mod.locals.update(block)
        for block in tree.get("output", []):
            mod.outputs.update(block)
        for block in tree.get("module", []):
            mod.modules.update(block)
        for block in tree.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    mod.resources[(rtype, name)] = body
        for key in ("terraform", "provider", "data"):
            mod.other.extend(tree.get(key, []))
    return mod


@dataclass
class Stack:
    repo: Path
    modules: dict[Path, Module]

    @property
    def tf_dir(self) -> Path:
        return self.repo / "terraform"

    @property
    def root(self) -> Module:
        return self.modules[self.tf_dir.resolve()]

    def module_dir(self, name: str) -> Module:
        return self.modules[(self.tf_dir / name).resolve()]


def module_dirs(tf_dir: Path) -> list[Path]:
    dirs = [tf_dir]
    for parent in ("modules", "examples"):
        dirs += sorted(p for p in (tf_dir / parent).glob("*") if p.is_dir() and any(p.glob("*.tf")))
    return dirs


def load_stack(repo: Path) -> Stack:
    tf_dir = Path(repo) / "terraform"
    if not tf_dir.is_dir():
        raise SpotShieldError(f"no terraform/ folder in {repo}; run from the SpotShield repo")
    return Stack(repo=Path(repo), modules={d.resolve(): load_module(d) for d in module_dirs(tf_dir)})


def strings(obj: Any):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def refs(obj: Any, kind: str) -> set[str]:
    return {m.group(2) for s in strings(obj) for m in _REF.finditer(s) if m.group(1) == kind}


def module_output_refs(obj: Any) -> set[tuple[str, str]]:
    return {(m.group(2), m.group(3)) for s in strings(obj) for m in _REF.finditer(s)
            if m.group(1) == "module" and m.group(3)}


def has_key(obj: Any, key: str) -> bool:
    if isinstance(obj, dict):
        return key in obj or any(has_key(v, key) for v in obj.values())
    if isinstance(obj, list):
        return any(has_key(v, key) for v in obj)
    return False


def block(body: dict, name: str) -> dict | None:
    value = body.get(name)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else None


def rel(stack: Stack, mod: Module) -> str:
    return mod.path.relative_to(stack.repo.resolve()).as_posix() if mod.path.is_absolute() else str(mod.path)


def tf_type(decl: dict) -> str:
    t = str(decl.get("type", "any"))
    return t[2:-1] if t.startswith("${") and t.endswith("}") else t


def bodies_using_vars(mod: Module) -> list[Any]:
    return [mod.locals, mod.outputs, mod.modules, list(mod.resources.values()), mod.other]
