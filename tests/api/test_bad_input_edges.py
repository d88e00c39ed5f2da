"""Input at the edges (the calendar's ends, huge integers, deep nesting, odd digits, NUL): 422 naming the field.

Each of these once answered 500 (an OverflowError, an asyncpg DataError, a
RecursionError): an outside probe found them (issue 14, item 3).
"""

from __future__ import annotations

import uuid

import pytest

from tests.support import Api, Tenant, envelope, new_id


def _field(response: object) -> str:
    problem = response.json()  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json"), problem  # type: ignore[attr-defined]
    return str(problem["errors"][0]["field"])


READS = [
    "/v1/reports/outcomes?{q}",
    "/v1/reports/outcomes?{q}&format=csv",
    "/v1/reports/outcomes?{q}&format=xlsx",
    "/v1/reports/outcomes?{q}&format=pdf",
    "/v1/dashboards/response-rates?{q}",
    "/v1/dashboards/funnel?{q}",
    "/v1/follow-ups?{q}",
    "/v1/participants/{p}/timeline?{q}",
    "/v1/participants/{p}/relationships?{q}",
    "/v1/participants/{p}/pipeline?{q}",
]


@pytest.mark.parametrize("query", ["as_of=9999-12-31", "as_of=0001-01-01", "to=9999-12-31", "from=0001-01-01"])
async def test_dates_at_the_calendars_ends_are_refused_on_every_read(api: Api, tenant: Tenant, query: str) -> None:
    participant = await api.new_participant(tenant.counselor_id)
    field = query.split("=", maxsplit=1)[0]
    for path in READS:
        if (field in ("to", "from") and "{p}" in path) or (field in ("to", "from") and "funnel" in path):
            continue  # these take no period
        if field in ("to", "from") and "follow-ups" in path:
            continue
        response = await api.get(path.format(q=query, p=participant))
        assert response.status_code == 422, (path, response.text)
        assert _field(response) == field


async def test_positions_and_paging_keys_out_of_range_are_refused(api: Api) -> None:
    for path, field in [
        ("/v1/reports/outcomes?as_of_position=-1", "as_of_position"),
        ("/v1/reports/outcomes?as_of_position=9223372036854775808", "as_of_position"),
        ("/v1/dashboards/response-rates?as_of_position=-1", "as_of_position"),
        ("/v1/access-log?before=9223372036854775808", "before"),
        ("/v1/access-log?before=-9223372036854775809", "before"),
        ("/v1/access-log?from=0001-01-01T00:00:00%2B14:00", "from"),
        ("/v1/access-log?to=9999-12-31T23:59:59-12:00", "to"),
        ("/v1/access-log?from=9999-12-31", "from"),
    ]:
        response = await api.get(path)
        assert response.status_code == 422, (path, response.text)
        assert _field(response) == field


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


async def test_json_nested_a_thousand_deep_is_refused_as_the_body(api: Api, tenant: Tenant) -> None:
    participant = await api.new_participant(tenant.counselor_id)
    for path, headers in [
        ("/v1/auth/login", {}),
        (f"/v1/participants/{participant}/events", api.headers),
        ("/v1/events:batch", api.headers),
        ("/v1/users", api.headers),
    ]:
        response = await api.client.post(
            path, content=_deep(1000), headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), (path, response.text)
        assert _field(response) == "body"


async def test_an_if_match_of_other_digits_is_refused(api: Api, tenant: Tenant) -> None:
    participant = await api.new_participant(tenant.counselor_id)
    body = envelope("counselor_assigned", {"counselor_id": str(tenant.counselor_id)})
    for value in ("³", "١", "1.0", "-1", "99999999999999999999999"):
        response = await api.client.post(
            f"/v1/participants/{participant}/events",
            json=body,
            headers={**api.headers, "If-Match": value.encode()},  # as sent: UTF-8 bytes
        )
        assert response.status_code == 422, (value, response.text)
        assert _field(response) == "If-Match"


async def test_nul_is_refused_naming_the_field_wherever_it_is_sent(api: Api, tenant: Tenant) -> None:
    enrolment = {
        "enrolled_on": "2026-03-01",
        "counselor_id": str(tenant.counselor_id),
        "profile": {"display_name": "Ann\u0000Lee"},
    }
    response = await api.record("participant", new_id(), envelope("participant_enrolled", enrolment))
    assert (response.status_code, _field(response)) == (422, "data.profile.display_name")
    cohort = {**enrolment, "profile": {"display_name": "Ann"}, "cohort": "a\u0000"}
    response = await api.record("participant", new_id(), envelope("participant_enrolled", cohort))
    assert (response.status_code, _field(response)) == (422, "data.cohort")
    user = {"email": f"u{uuid.uuid4().hex[:6]}@example.org", "role": "staff", "password": "long enough\u0000pass"}
    response = await api.post("/v1/users", user)
    assert (response.status_code, _field(response)) == (422, "password")
    response = await api.client.post("/v1/auth/login", json={"email": "a@b.org", "password": "x\u0000y"})
    assert (response.status_code, _field(response)) == (422, "password")
