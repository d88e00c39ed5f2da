"""The follow-up list and its quick form: an entry logged shows up once the worker has run, a form sent twice
stores one event, and an entry made offline is stored once the page is back online."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import asyncpg
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.conftest import Browser
from tests.support import project_everything


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def fill(page: Browser, *, what: str, participant: uuid.UUID, day: dt.date, **choices: str) -> str:
    """Fill the quick form (as a person would, choices from the lists); returns the entry's event id."""
    driver = page.driver
    driver.find_element(By.CSS_SELECTOR, f'input[name="what"][value="{what}"]').click()
    Select(driver.find_element(By.ID, "participant_id")).select_by_value(str(participant))
    # A date input's typing order follows the locale: set it as the picker would.
    driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, "on"), day.isoformat())
    driver.execute_script("arguments[0].value = '10:30'", driver.find_element(By.ID, "at"))
    for field, value in choices.items():
        Select(driver.find_element(By.ID, field)).select_by_value(value)
    return str(driver.find_element(By.NAME, "event_id").get_attribute("value"))


def entry_state(page: Browser, event_id: str) -> str | None:
    # The outbox redraws its list when an entry's state changes: an element found just before a redraw is gone
    # by the time it is read, so read it again from the new list.
    for _ in range(20):
        found = page.driver.find_elements(By.CSS_SELECTOR, f'#queue li[data-event-id="{event_id}"]')
        try:
            return found[0].get_attribute("data-state") if found else None
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"the outbox kept redrawing entry {event_id}")


def wait_for_state(page: Browser, event_id: str, state: str, seconds: float = 20) -> None:
    WebDriverWait(page.driver, seconds, poll_frequency=0.05).until(lambda _: entry_state(page, event_id) == state)


def week_row(page: Browser, week: str) -> list[dict[str, Any]]:
    return page.table("rates-by-week").get(week, [{"value": "0.0"}])


async def test_an_outreach_logged_in_the_form_shows_in_the_follow_ups_and_the_response_rates_once_projected(
    page: Browser, e2e_worker_pool: asyncpg.Pool
) -> None:
    world = page.world
    participant = world.participants_of("counselor")[0]
    contact = world.contacts()[0]
    sent_on = dt.date.today() - dt.timedelta(days=10)  # old enough to be due for a follow-up (7 days)
    page.login("counselor")
    page.wait_for("#rates-by-week canvas")
    sent_before = float(week_row(page, iso_week(sent_on))[0]["value"] or 0)

    event_id = fill(
        page, what="outreach", participant=participant, day=sent_on, contact_id=str(contact), channel="phone"
    )
    page.driver.find_element(By.ID, "log-it").click()
    wait_for_state(page, event_id, "stored")
    assert len(world.events_with_id(participant, event_id)) == 1

    await project_everything(e2e_worker_pool)  # the worker's run
    page.open("/app/follow-ups")
    outreach_id = uuid.uuid5(uuid.UUID(event_id), "outreach")
    item = page.wait_for(f'#items li[data-outreach-id="{outreach_id}"]')
    assert item.get_attribute("data-kind") == "follow_up"
    assert "Next step: Follow up by phone" in item.text
    assert "Why: no reply to the phone of " + sent_on.isoformat() in item.text
    page.wait_for("#rates-by-week canvas")
    assert float(week_row(page, iso_week(sent_on))[0]["value"] or 0) == sent_before + 1
    assert page.driver.find_elements(By.CSS_SELECTOR, f'#queue li[data-event-id="{event_id}"][data-state="stored"]')

    # The item's own button fills the form for the follow-up: same contact, the suggested channel, the thread.
    item.find_element(By.LINK_TEXT, "Log the outreach").click()
    form = page.driver.find_element(By.ID, "entry-form")
    assert form.find_element(By.NAME, "follow_up_of").get_attribute("value") == str(outreach_id)
    assert Select(form.find_element(By.ID, "contact_id")).first_selected_option.get_attribute("value") == str(contact)
    assert Select(form.find_element(By.ID, "channel")).first_selected_option.get_attribute("value") == "phone"
    page.screenshot("follow-ups")
    assert page.horizontal_overflow() == 0


def test_the_same_form_sent_twice_stores_one_event(page: Browser) -> None:
    world = page.world
    participant = world.participants_of("counselor")[1]
    page.login("counselor")
    event_id = fill(
        page,
        what="meeting",
        participant=participant,
        day=dt.date.today() - dt.timedelta(days=1),
        contact_id=str(world.contacts()[1]),
        format="video",
        meeting_kind="mentoring",
    )
    # The form as a browser without the script sends it (urlencoded, its CSRF field included), twice.
    statuses = page.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const form = document.getElementById("entry-form");
        form.querySelectorAll("fieldset").forEach((f) => { f.disabled = false; });
        const body = new URLSearchParams(new FormData(form));
        const send = () => fetch(form.action, {method: "POST", body, redirect: "manual", credentials: "same-origin"});
        send().then((first) => send().then((second) => done([first.type, second.type])));
        """
    )
    assert statuses == ["opaqueredirect", "opaqueredirect"]  # both answered 303 to the list: "logged"
    stored = world.events_with_id(participant, event_id)
    assert len(stored) == 1
    assert stored[0]["type"] == "meeting_held"
    assert stored[0]["data"]["kind"] == "mentoring"


def test_an_entry_made_offline_is_stored_once_the_page_is_back_online(page: Browser) -> None:
    world = page.world
    participant = world.participants_of("counselor")[2]
    page.login("counselor")
    page.offline(True)
    event_id = fill(
        page,
        what="outreach",
        participant=participant,
        day=dt.date.today(),
        contact_id=str(world.contacts()[2]),
        channel="text",
        purpose="ask_for_meeting",
    )
    page.driver.find_element(By.ID, "log-it").click()
    wait_for_state(page, event_id, "pending")
    assert "waiting to be sent" in page.driver.find_element(By.ID, "queue").text
    time.sleep(2.5)  # the outbox tries again every two seconds: still offline, still waiting
    assert entry_state(page, event_id) == "pending"
    assert world.events_with_id(participant, event_id) == []
    assert event_id in page.driver.execute_script("return window.localStorage.getItem('peoplelinks.outbox')")

    page.offline(False)
    wait_for_state(page, event_id, "stored")
    stored = world.events_with_id(participant, event_id)
    assert len(stored) == 1 and stored[0]["type"] == "outreach_sent"
    assert "Everything logged on this device is stored." in page.driver.find_element(By.ID, "outbox-status").text
