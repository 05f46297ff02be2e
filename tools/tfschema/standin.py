"""The stand-in provider process: serves a generated schema.json over plugin protocol v6.

Behaviour, and why:
- validate: Terraform core checks names, types, required arguments and block
  shapes against the schema; the provider adds nothing, like the real one mostly.
- plan: planned values are the configuration; unset computed values are unknown.
- apply/read: echo the plan back; what only the cloud could know (unknown computed
  values) gets a typed placeholder: "standin-<attribute>", 0, false, [], {}. No cloud
  calls. Used only by runs without mock_provider.
- the schema file comes from $SPOTSHIELD_TFSCHEMA (see build.py); without it the
  provider answers every command with one error saying so.
- a type missing from the generated schema is refused with a diagnostic naming the
  cause, instead of a gRPC stack trace.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import tf.provider
from tf import runner
from tf.gen import tfplugin_pb2 as pb
from tf.iface import DataSource, Resource
from tf.provider import ProviderServicer
from tf.schema import Attribute, Block, NestedBlock, Schema
from tf.types import TfType, Unknown
from tf.utils import Diagnostics

FULL_NAME = "registry.terraform.io/hashicorp/google"
SCHEMA_ENV = "SPOTSHIELD_TFSCHEMA"  # path of the schema.json to serve (set by spotshield validate)
_NESTING = {
    "list": pb.Schema.NestedBlock.NestingMode.LIST,
    "set": pb.Schema.NestedBlock.NestingMode.SET,
    "single": pb.Schema.NestedBlock.NestingMode.SINGLE,
}


class CtyType(TfType):
    """Any cty type, passed through untouched: the stand-in never interprets values."""

    def __init__(self, cty: Any):
        self._wire = json.dumps(cty, separators=(",", ":")).encode()

    def encode(self, value):
        return value

    def decode(self, value):
        return value

    def tf_type(self) -> bytes:
        return self._wire


class GenericBlock(NestedBlock):
    """A nested block in any nesting mode (the framework itself knows SET and SINGLE only)."""

    def __init__(self, name: str, spec: dict):
        super().__init__(name, None, build_block(spec["block"]), spec.get("min_items"), spec.get("max_items"))
        self._mode = _NESTING[spec["nesting_mode"]]

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(type_name=self.type_name, block=self.block.to_pb(), nesting=self._mode,
                                     min_items=self.min_items, max_items=self.max_items)

    def encode(self, value):
        return value

    def decode(self, value):
        return value

    def semantically_equal(self, a, b) -> bool:
        return a == b


def build_attributes(block: dict) -> list[Attribute]:
    return [
        Attribute(name, CtyType(a["type"]), required=a.get("required", False), optional=a.get("optional", False),
                  computed=a.get("computed", False))
        for name, a in block["attributes"].items()
    ]


def build_block(block: dict) -> Block:
    return Block(attributes=build_attributes(block),
                 block_types=[GenericBlock(n, s) for n, s in block["block_types"].items()])


def build_schema(block: dict) -> Schema:
    return Schema(attributes=build_attributes(block),
                  block_types=[GenericBlock(n, s) for n, s in block["block_types"].items()])


def placeholder(cty, name: str):
    """A known value of type `cty` for an attribute only the cloud could fill."""
    if cty == "string":
        return f"standin-{name}"
    if cty == "number":
        return 0
    if cty == "bool":
        return False
    if isinstance(cty, list) and cty[0] in ("list", "set"):
        return []
    if isinstance(cty, list) and cty[0] == "map":
        return {}
    if isinstance(cty, list) and cty[0] == "object":
        return {k: placeholder(t, k) for k, t in cty[1].items()}
    return None


def fill_unknowns(value, block: dict):
    """Apply must return wholly known values: replace unknown attributes by placeholders."""
    if not isinstance(value, dict):
        return nulls_for_unknowns(value)
    out = dict(value)
    for name, attr in block["attributes"].items():
        if out.get(name) is Unknown:
            out[name] = placeholder(attr["type"], name)
    for name, spec in block["block_types"].items():
        nested = out.get(name)
        if isinstance(nested, list):
            out[name] = [fill_unknowns(v, spec["block"]) for v in nested]
        elif isinstance(nested, dict):
            out[name] = fill_unknowns(nested, spec["block"])
    return nulls_for_unknowns(out)


def nulls_for_unknowns(value):
    """Whatever unknown is left (inside a collection) has no type to hand: null."""
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: nulls_for_unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nulls_for_unknowns(v) for v in value]
    return value


class _StandIn:
    """What a stand-in resource and data source share: a name and a schema from the generated file."""

    _google_type: str  # "google_compute_instance_template"
    _schema: Schema

    def __init__(self, provider):
        self.provider = provider

    @classmethod
    def get_name(cls):
        return cls._google_type.removeprefix("google_")

    @classmethod
    def get_schema(cls):
        return cls._schema


def resource_class(type_name: str, block: dict) -> type:
    class StandInResource(_StandIn, Resource):
        _google_type = type_name
        _schema = build_schema(block)

        def create(self, ctx, planned):
            return fill_unknowns(planned, block)

        def read(self, ctx, current):
            return current

        def update(self, ctx, current, planned):
            return fill_unknowns(planned, block)

        def delete(self, ctx, current):
            return None

    return StandInResource


def data_source_class(type_name: str, block: dict) -> type:
    computed = {n for n, a in block["attributes"].items() if a.get("computed")}

    class StandInDataSource(_StandIn, DataSource):
        _google_type = type_name
        _schema = build_schema(block)

        def read(self, ctx, config):
            known = {k: Unknown if v is None and k in computed else v for k, v in config.items()}
            return fill_unknowns(known, block)

    return StandInDataSource


def refusing_class(type_name: str, kind: str, provider_version: str) -> type:
    """Answers validate with an error for a type the generated schema does not hold."""

    class Refusing(Resource, DataSource):
        def __init__(self, provider):
            pass

        @classmethod
        def get_name(cls):
            return type_name

        @classmethod
        def get_schema(cls):
            return Schema()

        def validate(self, diags: Diagnostics, type_name_: str, config):
            diags.add_error(
                f"{kind} type {type_name} is not in the stand-in schema",
                f"The schema-only stand-in for hashicorp/google {provider_version} was generated for the types "
                f"found in the .tf files; regenerate it (rerun spotshield validate) or fix the type name.",
            )

        create = read = update = delete = lambda self, *a: None

    return Refusing


NO_SCHEMA = {"provider_version": "?", "provider": {"attributes": {}, "block_types": {}},
             "resources": {}, "data_sources": {}}


class StandInProvider:
    """The tf framework's Provider protocol, backed by schema.json."""

    def __init__(self, schema: dict, problem: str = ""):
        self.problem = problem  # reported on every schema request when the schema could not be loaded
        self.schema = schema
        self.resources = {t: resource_class(t, b) for t, b in schema["resources"].items()}
        self.data_sources = {t: data_source_class(t, b) for t, b in schema["data_sources"].items()}

    def get_model_prefix(self) -> str:
        return "google_"

    def full_name(self) -> str:
        return FULL_NAME

    def get_provider_schema(self, diags) -> Schema:
        if self.problem:
            diags.add_error("hashicorp/google schema stand-in has no schema", self.problem)
        return build_schema(self.schema["provider"])

    def validate_config(self, diags, config):
        pass

    def configure_provider(self, diags, config):
        pass  # no credentials, no clients: nothing leaves this machine

    def get_resources(self):
        return list(self.resources.values())

    def get_data_sources(self):
        return list(self.data_sources.values())

    def get_functions(self):
        return []

    def new_resource(self, klass):
        return klass(self)

    def new_data_source(self, klass):
        return klass(self)


class StandInServicer(ProviderServicer):
    def _get_res_cls(self, type_name):
        found = self._load_res_cls_map().get(type_name)
        return found or refusing_class(type_name, "resource", self.app.schema["provider_version"])

    def _get_ds_cls(self, type_name):
        found = self._load_ds_cls_map().get(type_name)
        return found or refusing_class(type_name, "data source", self.app.schema["provider_version"])


def load(schema_path: str | None) -> StandInProvider:
    if not schema_path:
        return StandInProvider(NO_SCHEMA, f"{SCHEMA_ENV} is not set. This plugin only serves a schema generated by "
                                          f"tools/tfschema; run it through `spotshield validate` (make validate).")
    try:
        return StandInProvider(json.loads(Path(schema_path).read_text()))
    except (OSError, ValueError) as e:
        return StandInProvider(NO_SCHEMA, f"cannot read {SCHEMA_ENV}={schema_path}: {e}")


def main() -> None:
    provider = load(os.environ.get(SCHEMA_ENV))
    # run_provider imports ProviderServicer from tf.provider when called: make it ours.
    tf.provider.ProviderServicer = StandInServicer
    runner.run_provider(provider, sys.argv)
