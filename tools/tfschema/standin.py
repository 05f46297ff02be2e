"""The stand-in provider process: serves a generated schema.json over plugin protocol v6.

Behaviour, and why:
- validate: Terraform core checks names, types, required arguments and block
  shapes against the schema; the provider adds nothing, like the real one mostly.
- plan: planned values are the configuration; unset computed values are unknown.
- apply/read: echo the plan back, unknowns become null (no cloud calls). Used only
  by runs without mock_provider; `terraform test` here mocks the provider anyway.
- a type missing from the generated schema is refused with a diagnostic naming the
  cause, instead of a gRPC stack trace.
"""
from __future__ import annotations

import json
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


def nulls_for_unknowns(value):
    """Apply must return wholly known values; the stand-in has nothing better than null."""
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: nulls_for_unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nulls_for_unknowns(v) for v in value]
    return value


def resource_class(type_name: str, block: dict) -> type:
    schema = build_schema(block)

    class StandInResource(Resource):
        def __init__(self, provider):
            self.provider = provider

        @classmethod
        def get_name(cls):
            return type_name.removeprefix("google_")

        @classmethod
        def get_schema(cls):
            return schema

        def create(self, ctx, planned):
            return nulls_for_unknowns(planned)

        def read(self, ctx, current):
            return current

        def update(self, ctx, current, planned):
            return nulls_for_unknowns(planned)

        def delete(self, ctx, current):
            return None

    return StandInResource


def data_source_class(type_name: str, block: dict) -> type:
    schema = build_schema(block)

    class StandInDataSource(DataSource):
        def __init__(self, provider):
            self.provider = provider

        @classmethod
        def get_name(cls):
            return type_name.removeprefix("google_")

        @classmethod
        def get_schema(cls):
            return schema

        def read(self, ctx, config):
            return nulls_for_unknowns(config)

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


class StandInProvider:
    """The tf framework's Provider protocol, backed by schema.json."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.resources = {t: resource_class(t, b) for t, b in schema["resources"].items()}
        self.data_sources = {t: data_source_class(t, b) for t, b in schema["data_sources"].items()}

    def get_model_prefix(self) -> str:
        return "google_"

    def full_name(self) -> str:
        return FULL_NAME

    def get_provider_schema(self, diags) -> Schema:
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


def serve(schema_path: str) -> None:
    provider = StandInProvider(json.loads(Path(schema_path).read_text()))
    # run_provider imports ProviderServicer from tf.provider when called: make it ours.
    tf.provider.ProviderServicer = StandInServicer
    runner.run_provider(provider, sys.argv)
