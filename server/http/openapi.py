"""What the OpenAPI document says beyond Litestar's defaults: errors, bearer auth, closed bodies.

Errors: every ``/api`` operation documents the envelope.

Litestar documents a 400 of its own shape (``status_code``, ``detail``) for handlers that take
parameters, and no other error. Our errors all have the contract's envelope (§2,
``server/http/envelope.py``), so each ``/api`` operation is given the statuses it can answer with
that shape. Litestar has no app-wide ``responses`` setting, hence a plugin that sees each
route as it is registered.

Auth: the document declares the bearer scheme (a JWT, contract §3) and puts a security
requirement on exactly the operations the server guards, read from the guards themselves so
the document cannot drift from what the server enforces.

Bodies: every msgspec struct declared ``forbid_unknown_fields`` (all request bodies, §2) is
documented with ``additionalProperties: false``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from server.auth.guards import learner_only, signed_in, teacher_only
from server.http.errors import ErrorEnvelope

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.handlers import HTTPRouteHandler


_ERRORS: dict[int, str] = {
    400: "VALIDATION_ERROR (details.fields names each problem; details.items each bad batch "
    "index) or INVALID_STATUS_TRANSITION",
    401: "UNAUTHORIZED (no or a bad token) or INVALID_CREDENTIALS",
    403: "FORBIDDEN: the caller's role may not do this",
    404: "NOT_FOUND or CARD_NOT_FOUND, also for what belongs to someone else",
    409: "VERSION_CONFLICT (details.current), CARD_LOCKED, DUPLICATE_ASSIGNMENT or EMAIL_TAKEN",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED, with Retry-After and details.retry_after",
    500: "INTERNAL_ERROR, with details.request_id",
    503: "SERVICE_UNAVAILABLE: the database cannot be reached",
}

ERROR_RESPONSES: dict[int, ResponseSpec] = {
    status: ResponseSpec(data_container=ErrorEnvelope, description=description)
    for status, description in _ERRORS.items()
}


class ErrorResponses(ReceiveRoutePlugin):
    """Adds :data:`ERROR_RESPONSES` to each ``/api`` operation; its own entries win."""

    __slots__ = ()

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/"):
            return
        for handler, _ in route.route_handler_map.values():
            responses = {**ERROR_RESPONSES, **(handler.responses or {})}
            handler.responses = dict(sorted(responses.items()))


BEARER = "bearerAuth"
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="An access token from POST /api/v1/auth/login or /refresh",
        )
    }
)
# The guards that answer 401 without a valid access token.
_TOKEN_GUARDS = (signed_in, teacher_only, learner_only)


def needs_token(handler: HTTPRouteHandler) -> bool:
    return any(
        guard in _TOKEN_GUARDS for layer in handler.ownership_layers for guard in layer.guards or ()
    )


class BearerSecurity(ReceiveRoutePlugin):
    """Adds the bearer requirement to each operation that a token guard protects."""

    __slots__ = ()

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler, _ in route.route_handler_map.values():
            if needs_token(handler):
                handler.security = [{BEARER: []}]


class ClosedStructs(StructSchemaPlugin):
    """Litestar's struct schemas, closed where the struct rejects unknown fields.

    Litestar's own struct plugin (a private module, hence the import path) does the work;
    registered as an app plugin, this one is asked before it.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
