"""How the OpenAPI document names the domain's own types that the generator cannot read by itself."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from domain.reporting.suppression import JsonNumber


class JsonNumberSchema(OpenAPISchemaPlugin):
    """A cell's value (``domain.reporting.suppression.CellValue``): a number or null, never integer-or-number."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return any(isinstance(mark, JsonNumber) for mark in field_definition.metadata)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(one_of=[Schema(type=OpenAPIType.NUMBER), Schema(type=OpenAPIType.NULL)])
