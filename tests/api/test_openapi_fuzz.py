"""Schemathesis against the OpenAPI document the API serves: no 5xx, and every answer as documented.

Every operation of ``/schema/openapi.json`` is called with generated requests,
valid ones and deliberately broken ones, as an admin of a real programme. Path
ids name real records of that programme (a participant, a contact, an
employer), so the handlers behind the guards run too, not only the 404.

Schemathesis's own pytest integration (``schema.parametrize()``) does not run
under pytest 9.2, so each operation gets a Hypothesis test of its own here,
reported as a subtest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.settings import Settings
from services.api.app import create_app
from tests.support import Api, Tenant, envelope

Client = AsyncTestClient  # type: ignore[type-arg]

# Kept small, and the same examples each run, so that CI stays fast and steady on two cores. For a deeper
# search with new examples each run: PEOPLELINKS_FUZZ_EXAMPLES=500 pytest tests/api/test_openapi_fuzz.py
EXAMPLES_PER_OPERATION = int(os.environ.get("PEOPLELINKS_FUZZ_EXAMPLES", "30"))
SAME_EXAMPLES_EACH_RUN = "PEOPLELINKS_FUZZ_EXAMPLES" not in os.environ
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Logging out ends the session the other operations use: each call gets a session of its own.
SPARE_SESSIONS = 4


class Programme:
    """The admin's token and one record of each kind, for the generated requests to name."""

    def __init__(self, token: str, spare_tokens: list[str], participant: str, contact: str, employer: str) -> None:
        self.token = token
        self.spare_tokens = spare_tokens
        self.participant = participant
        self.contact = contact
        self.employer = employer

    def path_ids(self, path: str) -> dict[str, Any]:
        """Real ids for the operation's path parameters (the other parameters are generated)."""
        if path.startswith("/v1/participants/"):
            return {"record_id": self.participant, "participant_id": self.participant}
        if path.startswith("/v1/contacts/"):
            return {"record_id": self.contact}
        if path.startswith("/v1/employers/"):
            return {"record_id": self.employer}
        return {}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A report quota these calls never reach: past it every report route would answer 429 and run no further."""
    return msgspec.structs.replace(settings, report_request_burst=1_000)


@pytest.fixture
async def programme(client: Client, api: Api, tenant: Tenant) -> Programme:
    spare = []
    for _ in range(SPARE_SESSIONS):
        response = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
        assert response.status_code == 200, response.text
        spare.append(response.json()["access_token"])
    return Programme(
        token=api.headers["Authorization"].removeprefix("Bearer "),
        spare_tokens=spare,
        participant=await api.new_participant(tenant.counselor_id),
        contact=await api.new_contact(),
        employer=await api.new_employer(),
    )


@pytest.fixture
def served_schema(settings: Settings) -> Iterator[BaseSchema]:
    """The OpenAPI document of an app of its own, which schemathesis runs in an event loop of its own."""
    loaded = schemathesis.openapi.from_asgi("/schema/openapi.json", create_app(settings))
    try:
        yield loaded
    finally:
        shutdown_lifespans()


def _fuzz(operation: APIOperation, programme: Programme) -> None:
    fixed = {name: value for name, value in programme.path_ids(operation.path).items() if name in operation.path}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed),
    )

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=SAME_EXAMPLES_EACH_RUN,
        database=None,
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        token = programme.token
        if operation.path == "/v1/auth/logout":
            # The last spare session stays, logged out, for the calls after the others are used up.
            token = programme.spare_tokens.pop() if len(programme.spare_tokens) > 1 else programme.spare_tokens[0]
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    answers_as_documented()


def test_every_operation_answers_as_documented_and_never_with_a_server_error(
    served_schema: BaseSchema, programme: Programme, subtests: pytest.Subtests
) -> None:
    operations = [result.ok() for result in served_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        with subtests.test(msg=operation.label):
            _fuzz(operation, programme)


# -- What the fuzzing found, kept as examples ---------------------------------


async def test_text_with_a_nul_character_is_refused_with_422_and_stores_nothing(api: Api) -> None:
    """PostgreSQL cannot store U+0000 in jsonb or text: it was a 500, then 422 as the body, now naming the field."""
    contact = await api.new_contact()
    before = (await api.get(f"/v1/contacts/{contact}/events")).json()
    response = await api.record("contact", contact, envelope("contact_updated", {"role": "Shift\u0000lead"}))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["data.role"]
    assert (await api.get(f"/v1/contacts/{contact}/events")).json() == before

    user = await api.post("/v1/users", {"email": "nul\u0000@example.org", "role": "staff", "password": "p" * 12})
    assert user.status_code == 422, user.text


async def test_response_rate_cells_are_documented_as_numbers_or_null(client: Client) -> None:
    """A cell's value was ``int | float``, an ambiguous oneOf that rejected every integer (found by the fuzzing)."""
    document = (await client.get("/schema/openapi.json")).json()
    value = document["components"]["schemas"]["Cell"]["properties"]["value"]
    assert value == {"oneOf": [{"type": "number"}, {"type": "null"}]}


@pytest.mark.parametrize("export", ["xlsx", "pdf", "csv"])
async def test_a_control_character_in_a_filter_does_not_break_the_exports(
    api: Api, export: str, export_worker: None
) -> None:
    """A cohort holding U+001C made the XLSX export a 500 (found by the fuzzing): the worksheet shows U+FFFD."""
    response = await api.download(f"/v1/reports/outcomes?format={export}&cohort=night%1Cshift")
    assert response.status_code == 200, response.text
    assert response.content


async def test_an_occurred_at_before_the_first_storable_instant_is_refused_with_422(api: Api) -> None:
    """0001-01-01T00:00:00+02:00 is valid RFC 3339 but not an instant the store holds: it was a 500 (fuzzing)."""
    contact = await api.new_contact()
    body = envelope("contact_updated", {"role": "Mentor"}, occurred_at="0001-01-01T00:00:00+02:00")
    response = await api.record("contact", contact, body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["occurred_at"]
