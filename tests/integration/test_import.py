"""``peoplelinks import``: an export's good rows are stored, each bad row is listed with its line and reason, and a
second run stores nothing new (real PostgreSQL, the command run as an operator runs it)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from domain.streams import stream_id_of
from infra.accounts import create_user
from infra.settings import Settings
from services.importing import importer
from services.importing.importer import ImportOptions, run_import
from services.importing.mapping import namespace_of
from tests import log_watch
from tests.support import Tenant

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
MAPPING = EXAMPLES / "import-mapping.toml"
EXAMPLE = EXAMPLES / "import-example.csv"
EXAMPLE_COUNSELOR = "counselor@example.org"  # the Staff Email of the example's intakes
EXAMPLE_EVENTS = 19  # its 20 rows less one case note, which the mapping skips

# Appended to the example: each breaks one thing, named in the comment.
BAD_ROWS = [
    "Outreach,B-1,02/12/2025,1001,C-100,,,,,,,,Fax,Intro,,,,,,,,,,,,,,",  # 22: a channel the mapping has no word for
    "Outreach,B-2,13/45/2025,1001,C-100,,,,,,,,Email,Intro,,,,,,,,,,,,,,",  # 23: no such day
    "Outreach,B-3,02/12/2025,1001,C-999,,,,,,,,Email,Intro,,,,,,,,,,,,,,",  # 24: a contact nobody added
    "Client Intake,P-3,02/03/2025,1003,,,counselor@example.org,,,,,,,,,,,,,,,,25-34,N,,,,",  # 25: no name
    "Outreach,B-4,02/12/2025,1003,C-100,,,,,,,,Email,Intro,,,,,,,,,,,,,,",  # 26: by the participant of line 25
    "Mystery,B-5,02/12/2025,1001,,,,,,,,,,,,,,,,,,,,,,,,",  # 27: a record type the mapping does not know
    "Response,B-6,02/13/2025,1001,C-100,,,,,,,,,,Positive,A-404,,,,,,,,,,,,",  # 28: to an outreach never sent
]


async def _import(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PEOPLELINKS_MASTER_KEY": settings.master_key,
        "PEOPLELINKS_SECRET_KEY": settings.secret_key,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "import", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    log_watch.note("peoplelinks import, standard error", err)  # its log lines; standard output is the report
    return process.returncode, out.decode(), err.decode()


async def _with_example_counselor(owner: asyncpg.Connection, tenant: Tenant) -> None:
    await create_user(
        owner, programme_id=tenant.programme_id, email=EXAMPLE_COUNSELOR, role="counselor", password="x" * 12
    )


async def _events(owner: asyncpg.Connection, tenant: Tenant) -> int:
    return int(await owner.fetchval("SELECT count(*) FROM events WHERE programme_id = $1", tenant.programme_id))


def _export_with_bad_rows(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(EXAMPLE.read_text(encoding="utf-8") + "\n".join(BAD_ROWS) + "\n", encoding="utf-8")
    return path


def _rejected_lines(out: str) -> dict[int, str]:
    lines = {}
    for text in out.splitlines():
        if text.startswith("  line "):
            number, _, reason = text.removeprefix("  line ").partition(": ")
            lines[int(number)] = reason
    return lines


async def test_the_shipped_example_imports_cleanly(
    settings: Settings, owner: asyncpg.Connection, tenant: Tenant
) -> None:
    await _with_example_counselor(owner, tenant)
    code, out, err = await _import(
        settings, str(EXAMPLE), "--mapping", str(MAPPING), "--programme", str(tenant.programme_id)
    )
    assert code == 0, out + err
    assert f"{EXAMPLE_EVENTS} events stored, 0 already present, 1 skipped, 0 rejected" in out, out
    assert await _events(owner, tenant) == EXAMPLE_EVENTS
    # The hire's referral, application and contact were all found: ids derived from the source's keys line up.
    hired = await owner.fetchval(
        "SELECT data FROM events WHERE programme_id = $1 AND type = 'hired'", tenant.programme_id
    )
    assert {"application_id", "via_contact_id", "employer_id", "hourly_wage"} <= set(hired), hired
    assert hired["hourly_wage"] == "18.50"


async def test_good_rows_are_stored_bad_rows_listed_and_a_second_run_stores_nothing_new(
    settings: Settings, owner: asyncpg.Connection, tenant: Tenant, tmp_path: Path
) -> None:
    await _with_example_counselor(owner, tenant)
    export = _export_with_bad_rows(tmp_path)
    rejects = tmp_path / "rejects.csv"
    args = (str(export), "--mapping", str(MAPPING), "--programme", str(tenant.programme_id), "--rejects", str(rejects))

    code, out, err = await _import(settings, *args)
    assert code == 3, out + err
    assert f"{EXAMPLE_EVENTS} events stored, 0 already present, 1 skipped, 7 rejected" in out, out
    assert "recording" in err  # the progress bar, on standard error
    assert await _events(owner, tenant) == EXAMPLE_EVENTS
    rejected = _rejected_lines(out)
    assert sorted(rejected) == [22, 23, 24, 25, 26, 27, 28], out
    assert rejected[22].startswith("data.channel (column Method): not one of email,"), rejected[22]
    assert rejected[23].startswith("occurred_at (column Date): not a date in the format %m/%d/%Y"), rejected[23]
    assert "names a contact that is neither in this import nor in the programme" in rejected[24]
    assert rejected[25].startswith("data.profile.display_name (column Name): the cell is empty"), rejected[25]
    assert "this row's participant (line 25) was rejected" in rejected[26]
    assert rejected[27].startswith("type (column Record Type): a value that no kind"), rejected[27]
    assert "data.outreach_id (column In Reply To): outreach" in rejected[28]
    with rejects.open(encoding="utf-8", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in written] == sorted(rejected)
    assert written[0]["field"] == "data.channel" and written[0]["column"] == "Method"
    # No name was echoed, and the names stored are sealed (the Recorder's path, not a direct insert).
    assert "Dana" not in out + err and "Whitfield" not in out + err
    stored = await owner.fetch("SELECT data::text AS data FROM events WHERE programme_id = $1", tenant.programme_id)
    assert not any("Whitfield" in row["data"] for row in stored)

    code, out, err = await _import(settings, *args)
    assert code == 3, out + err
    assert f"0 events stored, {EXAMPLE_EVENTS} already present, 1 skipped, 7 rejected" in out, out
    assert await _events(owner, tenant) == EXAMPLE_EVENTS
    assert sorted(_rejected_lines(out)) == [22, 23, 24, 25, 26, 27, 28]


async def test_a_dry_run_reports_what_a_real_run_would_do_and_stores_nothing(
    settings: Settings, owner: asyncpg.Connection, tenant: Tenant, tmp_path: Path
) -> None:
    await _with_example_counselor(owner, tenant)
    export = _export_with_bad_rows(tmp_path)
    args = (str(export), "--mapping", str(MAPPING), "--programme", str(tenant.programme_id))

    code, dry, err = await _import(settings, *args, "--dry-run")
    assert code == 3, dry + err
    assert f"dry run: 27 rows read: {EXAMPLE_EVENTS} events would be stored, 0 already present" in dry, dry
    assert await _events(owner, tenant) == 0
    keys = await owner.fetchval("SELECT count(*) FROM subject_keys WHERE programme_id = $1", tenant.programme_id)
    assert keys == 0  # not even a person's key was made

    code, real, err = await _import(settings, *args)
    assert code == 3, real + err
    assert _rejected_lines(dry) == _rejected_lines(real)


async def test_json_lines_import_like_csv_and_a_line_that_is_not_json_is_rejected_alone(
    settings: Settings, owner: asyncpg.Connection, tenant: Tenant, tmp_path: Path
) -> None:
    await _with_example_counselor(owner, tenant)
    with EXAMPLE.open(encoding="utf-8", newline="") as handle:
        rows = [{k: v for k, v in row.items() if v} for row in csv.DictReader(handle)]
    lines = [json.dumps(row) for row in rows]
    lines.insert(3, '{"Record Type": "Contact", ')  # line 4: cut short
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = ImportOptions(file=export, mapping=MAPPING, programme=str(tenant.programme_id))

    report = await run_import(settings, options)

    assert (report.rows, report.stored, report.skipped) == (len(rows) + 1, EXAMPLE_EVENTS, 1)
    assert [(r.line, r.reason) for r in report.rejections] == [(4, "not valid JSON")]
    assert await _events(owner, tenant) == EXAMPLE_EVENTS
    # The same rows as CSV are the same events: ids come from the source's keys, not from the file.
    again = await run_import(settings, ImportOptions(file=EXAMPLE, mapping=MAPPING, programme=str(tenant.programme_id)))
    assert (again.stored, again.present, again.rejections) == (0, EXAMPLE_EVENTS, [])


async def test_a_request_the_recorder_refuses_is_recorded_row_by_row_and_only_its_culprit_rejected(
    settings: Settings, owner: asyncpg.Connection, tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan is told that the contact of line 24 exists (as if another process added it and removed it
    # again meanwhile): the plan accepts the row, and the Recorder refuses participant 1001's request.
    await _with_example_counselor(owner, tenant)
    export = _export_with_bad_rows(tmp_path)
    ghost = stream_id_of("contact", uuid.uuid5(namespace_of(tenant.programme_id, "casetrack"), "contact/C-999"))
    real_plan = importer.plan_import

    def stale_plan(*args: Any, existing: frozenset[str], **kwargs: Any) -> Any:
        return real_plan(*args, existing=existing | {ghost}, **kwargs)

    monkeypatch.setattr(importer, "plan_import", stale_plan)
    options = ImportOptions(file=export, mapping=MAPPING, programme=str(tenant.programme_id))

    report = await run_import(settings, options)

    assert (report.stored, report.present) == (EXAMPLE_EVENTS, 0)
    assert [r.line for r in report.rejections] == [22, 23, 24, 25, 26, 27, 28]
    culprit = next(r for r in report.rejections if r.line == 24)
    assert (culprit.field, culprit.column) == ("data.contact_id", "Contact ID")
    assert culprit.reason == "names a contact that is neither in this import nor in the programme"
    assert await _events(owner, tenant) == EXAMPLE_EVENTS


async def test_a_mapping_that_does_not_fit_is_a_usage_error_naming_its_key(
    settings: Settings, owner: asyncpg.Connection, tenant: Tenant, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8").replace('"outreach_sent"', '"outreach_made"'))
    code, out, err = await _import(settings, str(EXAMPLE), "--mapping", str(mapping), "--programme", "Nowhere")
    assert code == 2, out + err
    assert "kinds.outreach.event: names no event type" in err, err
    code, out, err = await _import(settings, str(EXAMPLE), "--mapping", str(MAPPING), "--programme", "Nowhere")
    assert code == 2 and "no programme has this id or name" in err, out + err
    assert await _events(owner, tenant) == 0
