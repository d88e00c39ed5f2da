"""The ``peoplelinks`` command: migrate, api, worker, up, programme create, rebuild."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import click

from infra.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """PeopleLinks: outcome tracking for reentry employment programmes.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL,
    PEOPLELINKS_SECRET_KEY and the others listed in docs/configuration.md.
    """


@main.command()
def migrate() -> None:
    """Apply database migrations (idempotent; safe from several processes at once)."""
    from infra.db import connect_owner
    from infra.migrate import migrate as run_migrations

    async def run() -> list[str]:
        conn = await connect_owner(Settings.from_env())
        try:
            return await run_migrations(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    click.echo(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
def api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (OpenAPI at /schema) and the web dashboards."""
    import uvicorn

    if os.environ.get("PEOPLELINKS_SECRET_KEY") is None and workers > 1:
        raise click.UsageError("set PEOPLELINKS_SECRET_KEY when running several workers (they must share it)")
    uvicorn.run(
        "services.api.asgi:build",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,  # access logs would carry ids from paths; the API logs what it needs itself
        proxy_headers=True,
    )


@main.group()
def programme() -> None:
    """Manage programmes (the tenants)."""


@programme.command("create")
@click.option("--name", required=True, help="The programme's name.")
@click.option("--admin-email", required=True, help="E-mail address of its first admin.")
def programme_create(name: str, admin_email: str) -> None:
    """Create a programme and its first admin; prints their ids as JSON.

    The admin's password comes from PEOPLELINKS_ADMIN_PASSWORD or standard input.
    """
    from infra.accounts import create_programme
    from infra.db import connect_owner

    password = os.environ.get("PEOPLELINKS_ADMIN_PASSWORD")
    if password is None:
        password = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else click.prompt("Admin password", hide_input=True, confirmation_prompt=True)
        )
    if len(password) < 10:
        raise click.UsageError("the admin password must have at least 10 characters")

    async def run() -> tuple[str, str]:
        conn = await connect_owner(Settings.from_env())
        try:
            programme_id, admin_id = await create_programme(
                conn, name=name, admin_email=admin_email, admin_password=password
            )
            return str(programme_id), str(admin_id)
        finally:
            await conn.close()

    programme_id, admin_id = asyncio.run(run())
    click.echo(json.dumps({"programme_id": programme_id, "admin_user_id": admin_id}))


if __name__ == "__main__":
    main()
