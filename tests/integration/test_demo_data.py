"""``peoplelinks demo-data``: the demo programme, small, tells the programme's story, and its funder reads it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from infra.settings import Settings
from projections.releases import quarter_of
from tests import log_watch
from tests.support import Api

pytestmark = pytest.mark.slow
Client = AsyncTestClient  # type: ignore[type-arg]
PARTICIPANTS = 120


async def _demo_data(settings: Settings, data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PEOPLELINKS_REDIS_PREFIX": settings.redis_prefix,
        "PEOPLELINKS_MASTER_KEY": settings.master_key,
        "PEOPLELINKS_SECRET_KEY": settings.secret_key,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "demo-data", "--data-dir", str(data_dir), *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=600)
    assert process.returncode is not None
    log_watch.note("peoplelinks demo-data, standard error", err)  # its log lines; standard output is the report
    return process.returncode, out.decode(), err.decode()


def _last_quarter(today: dt.date) -> str:
    return quarter_of(today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1) - dt.timedelta(days=1))


async def test_demo_data_tells_that_referrals_win_more_jobs_per_application_and_keep_them_longer(
    settings: Settings, client: Client, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    args = ("--participants", str(PARTICIPANTS), "--seed", "7", "--until", "2026-11-30")
    code, out, err = await _demo_data(settings, tmp_path, *args)
    assert code == 0, out + err
    assert "recording" in err  # the progress bar, on standard error
    today = dt.datetime.now(dt.UTC).date()
    assert f"released {_last_quarter(today)} to funders" in out, out

    credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
    logins = {login["role"]: login["email"] for login in credentials["logins"]}
    staff = await Api.login(client, logins["staff"], credentials["password"])
    answer = await staff.get(f"/v1/reports/outcomes?from=2025-01-01&to={today.isoformat()}")
    assert answer.status_code == 200, answer.text
    figures = answer.json()["figures"]
    programme_id = answer.json()["programme_id"]
    applications = dict(
        await owner.fetch(
            "SELECT route, count(*) FROM rm_applications WHERE programme_id = $1 AND voided_at IS NULL GROUP BY route",
            programme_id,
        )
    )
    hires = {source: figures["hires_by_source"][source]["value"] for source in ("referral", "online_application")}
    referral_per_application = hires["referral"] / applications["referral"]
    online_per_application = hires["online_application"] / applications["online"]
    assert hires["referral"] > 0 and hires["online_application"] > 0, hires
    assert referral_per_application > 1.5 * online_per_application, (hires, applications)
    kept = {s: figures["retention_by_source_90"][s]["rate"]["value"] for s in ("referral", "online_application")}
    assert kept["referral"] > kept["online_application"] + 0.05, kept
    # The command printed the same story.
    referral_line = re.search(r"referral\s+([\d,]+) hires from\s+([\d,]+) applications", out)
    assert referral_line and int(referral_line[1].replace(",", "")) == hires["referral"], out

    # The demo funder sees the released quarter (funders read released quarters only).
    funder = await Api.login(client, logins["funder"], credentials["password"])
    released = await funder.get("/v1/reports/outcomes")
    assert released.status_code == 200, released.text
    assert released.json()["audience"] == "funder"

    # The same seed, size and end again: the same events, all replays; nothing released twice.
    code, out, err = await _demo_data(settings, tmp_path, *args)
    assert code == 0, out + err
    assert re.search(r"^0 of [\d,]+ events stored", out, re.M), out
    assert "released to funders already" in out
