"""Turn the cdktn jsii assembly into Terraform schema blocks (the `providers schema -json` shape).

Where each fact comes from, and why:
- arguments: the resource's Config struct. `optional` absent means required; the
  attribute name is the fragment of its Terraform Registry link, which is exact
  (camelCase -> snake_case is not: `ipv6AccessConfig`).
- blocks: a struct-typed property. A bare struct is a block with max_items = 1; an
  array of structs is a repeated block. Registered as LIST, like the real provider.
- computed-only attributes: getters on the resource class (or a block's
  OutputReference class) that are not arguments and not `*Input`.
- set vs list: jsii types both as arrays; the generated JavaScript does not. Set
  attributes are read through `cdktn.Fn.tolist(...)`, set blocks are
  `new XList(this, "name", true)`. This matters to `terraform test`: `x[0]` on a set
  is an error with the real provider.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tfschema.jsii_package import Assembly

PREFIX = "@cdktn/provider-google"
IRESOLVABLE = "cdktn.IResolvable"
PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic", "json": "dynamic"}
SCALAR_MAPS = {
    "cdktn.StringMap": ["map", "string"],
    "cdktn.NumberMap": ["map", "number"],
    "cdktn.BooleanMap": ["map", "bool"],
    "cdktn.AnyMap": ["map", "dynamic"],
}
# SDKv2 timeouts are a SINGLE-nested block, not a max_items=1 list; jsii cannot tell them apart.
SINGLE_BLOCKS = {"timeouts"}
# jsii cannot tell Optional from Optional+Computed. These arguments are computed in every
# google resource (defaulted from the provider block or assigned by the API); without the
# flag, references such as `google_x.y.id` would stay null under mock_provider.
ALWAYS_COMPUTED_ARGS = {"id", "project", "region", "zone", "self_link", "effective_labels", "terraform_labels"}

_LINK_NAME = re.compile(r"#([A-Za-z0-9_]+)\s+\w+#")
_CLASS = re.compile(r"^class (\w+) extends", re.M)
_GETTER = re.compile(r"get (\w+)\(\) \{\s*return (cdktn\.Fn\.tolist\()?this\.get(\w*)Attribute\('([^']+)'\)")
_FIELD = re.compile(r"_(\w+) = new (\w+)\(this, \"([^\"]+)\"(?:, (true|false))?\)")


class UnknownType(Exception):
    """The resource or data source type is not in this provider version."""


@dataclass
class JsNames:
    """What the generated JavaScript says about one class: getter -> (terraform name, is a set)."""

    members: dict[str, tuple[str, bool]] = field(default_factory=dict)
    # getter -> accessor kind ("Boolean" for getBooleanAttribute): booleans are typed IResolvable in jsii
    accessors: dict[str, str] = field(default_factory=dict)


def module_names(type_name: str, data: bool) -> tuple[str, str, str]:
    """(lib dir, jsii submodule, class name) for a Terraform type, e.g. google_storage_bucket."""
    stem = "data_" + type_name if data else type_name.removeprefix("google_")
    parts = stem.split("_")
    return "-".join(parts), parts[0] + "".join(p.capitalize() for p in parts[1:]), "".join(p.capitalize() for p in parts)


def parse_js(text: str) -> dict[str, JsNames]:
    """Index a generated index.js by class."""
    classes: dict[str, JsNames] = {}
    starts = list(_CLASS.finditer(text))
    for i, m in enumerate(starts):
        body = text[m.end(): starts[i + 1].start() if i + 1 < len(starts) else len(text)]
        names = JsNames()
        for g in _GETTER.finditer(body):
            names.members[g.group(1)] = (g.group(4), bool(g.group(2)))
            names.accessors[g.group(1)] = g.group(3)
        for f in _FIELD.finditer(body):
            names.members[f.group(1)] = (f.group(3), f.group(4) == "true")
        classes[m.group(1)] = names
    return classes


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


class Converter:
    def __init__(self, assembly: Assembly):
        self.types = assembly.types
        self.js: dict[str, JsNames] = {}
        for text in assembly.js.values():
            self.js.update(parse_js(text))

    # -- entry points ------------------------------------------------------------
    def resource(self, type_name: str, data: bool = False) -> dict:
        lib_dir, sub, cls = module_names(type_name, data)
        class_fqn = f"{PREFIX}.{sub}.{cls}"
        config = self.types.get(f"{class_fqn}Config")
        if config is None or class_fqn not in self.types:
            raise UnknownType(type_name)
        return self._block(config, class_fqn)

    def provider(self) -> dict:
        config = self.types[f"{PREFIX}.provider.GoogleProviderConfig"]
        block = self._block(config, f"{PREFIX}.provider.GoogleProvider")
        block["attributes"].pop("alias", None)  # a Terraform meta-argument, not provider schema
        return block

    # -- blocks ------------------------------------------------------------------
    def _block(self, struct: dict, reader_fqn: str) -> dict:
        """Schema of a struct (arguments) plus the computed-only getters of its reader class."""
        reader_js = self.js.get(reader_fqn.rsplit(".", 1)[1], JsNames())
        attributes: dict[str, dict] = {}
        blocks: dict[str, dict] = {}
        argument_getters = set()
        for prop in struct.get("properties", []):
            camel = prop["name"]
            argument_getters.add(camel)
            name = self._arg_name(prop, reader_js)
            is_set = reader_js.members.get(camel, (name, False))[1]
            required = not prop.get("optional", False)
            nested = self._struct_of(prop["type"])
            if nested is not None:
                struct_fqn, repeated = nested
                inner = self._block(self.types[struct_fqn], struct_fqn + "OutputReference")
                if not repeated and name in SINGLE_BLOCKS:
                    blocks[name] = {"nesting_mode": "single", "block": inner}
                    continue
                spec = {"nesting_mode": "set" if is_set else "list", "block": inner}
                if required:
                    spec["min_items"] = 1
                if not repeated:
                    spec["max_items"] = 1
                blocks[name] = spec
                continue
            attr = {"type": self._cty(prop["type"], is_set)}
            if required:
                attr["required"] = True
            else:
                attr["optional"] = True
                if name in ALWAYS_COMPUTED_ARGS:
                    attr["computed"] = True
            attributes[name] = attr
        for camel, prop in self._getters(reader_fqn).items():
            if camel in argument_getters or camel not in reader_js.members:
                continue
            name, is_set = reader_js.members[camel]
            if name in attributes or name in blocks:
                continue
            attributes[name] = {"type": self._getter_cty(prop["type"], is_set, reader_js.accessors.get(camel)),
                                "computed": True}
        return {"attributes": attributes, "block_types": blocks}

    def _getters(self, class_fqn: str) -> dict[str, dict]:
        cls = self.types.get(class_fqn, {})
        return {
            p["name"]: p
            for p in cls.get("properties", [])
            if not p.get("static") and not p.get("protected") and not p["name"].endswith("Input")
        }

    def _arg_name(self, prop: dict, reader_js: JsNames) -> str:
        docs = prop.get("docs", {})
        m = _LINK_NAME.search(docs.get("remarks", "") + " " + docs.get("summary", ""))
        if m:
            return m.group(1)
        if prop["name"] in reader_js.members:
            return reader_js.members[prop["name"]][0]
        return _snake(prop["name"])

    # -- types -------------------------------------------------------------------
    @staticmethod
    def _strip(t: dict) -> dict:
        """Drop the IResolvable arm of `X | IResolvable` unions: it only means 'or an expression'."""
        if "union" in t:
            arms = [a for a in t["union"]["types"] if a.get("fqn") != IRESOLVABLE]
            return arms[0] if len(arms) == 1 else {"primitive": "any"}
        return t

    def _is_struct(self, fqn: str) -> bool:
        t = self.types.get(fqn, {})
        return t.get("kind") == "interface" and t.get("datatype", False)

    def _struct_of(self, t: dict) -> tuple[str, bool] | None:
        """(struct fqn, repeated) when the argument is a nested block, else None."""
        t = self._strip(t)
        if "fqn" in t and self._is_struct(t["fqn"]):
            return t["fqn"], False
        coll = t.get("collection")
        if coll and coll["kind"] == "array":
            elem = self._strip(coll["elementtype"])
            if "fqn" in elem and self._is_struct(elem["fqn"]):
                return elem["fqn"], True
        return None

    def _cty(self, t: dict, is_set: bool = False):
        t = self._strip(t)
        if "primitive" in t:
            return PRIMITIVES[t["primitive"]]
        coll = t.get("collection")
        if coll:
            elem = self._cty(coll["elementtype"])
            if coll["kind"] == "map":
                return ["map", elem]
            return ["set" if is_set else "list", elem]
        if "fqn" in t and self._is_struct(t["fqn"]):
            return ["object", {self._arg_name(p, JsNames()): self._cty(p["type"]) for p in self.types[t["fqn"]]["properties"]}]
        return "dynamic"

    def _getter_cty(self, t: dict, is_set: bool, accessor: str | None = None):
        """Type of a computed-only getter: primitives, scalar maps, or List/OutputReference/Map classes."""
        if t.get("fqn") == IRESOLVABLE and accessor == "Boolean":
            return "bool"
        t = self._strip(t)
        fqn = t.get("fqn")
        if fqn is None:
            return self._cty(t, is_set)
        if fqn in SCALAR_MAPS:
            return SCALAR_MAPS[fqn]
        for suffix, kind in (("List", "set" if is_set else "list"), ("OutputReference", "list"), ("Map", "map")):
            ref = fqn.removesuffix(suffix) + "OutputReference"
            if fqn.endswith(suffix) and ref in self.types:
                return [kind, self._object_of(ref)]
        return "dynamic"

    def _object_of(self, ref_fqn: str) -> list:
        ref_js = self.js.get(ref_fqn.rsplit(".", 1)[1], JsNames())
        attrs = {}
        for camel, prop in self._getters(ref_fqn).items():
            if camel in ref_js.members:
                name, is_set = ref_js.members[camel]
                attrs[name] = self._getter_cty(prop["type"], is_set, ref_js.accessors.get(camel))
        return ["object", attrs]
