"""A participant's page: pipeline, jobs and milestones, relationships with their timelines; a counselor reaches
only their own participants."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.e2e.conftest import Browser


def display_name(page: Browser, participant: object) -> str:
    stream = f"participant-{participant}"
    return next(
        line["data"]["profile"]["display_name"]
        for line in page.world.log
        if line["stream_id"] == stream and line["type"] == "participant_enrolled"
    )


def test_a_counselor_sees_their_participants_pipeline_jobs_and_people_links(page: Browser) -> None:
    world = page.world
    # One of the counselor's participants who was hired: the richest page.
    participant = next(p for p in world.participants_of("counselor", active=False) if world.pipeline(p)["jobs"] > 0)
    api = world.api("counselor")
    relationships = api.get(f"/v1/participants/{participant}/relationships").json()["relationships"]
    pipeline = api.get(f"/v1/participants/{participant}/pipeline").json()["pipeline"]
    page.login("counselor")
    page.open(f"/app/participants/{participant}")
    assert page.driver.find_element(By.TAG_NAME, "h1").text == display_name(page, participant)
    shown = page.driver.find_elements(By.CSS_SELECTOR, "details.relationship")
    assert {d.get_attribute("data-contact-id") for d in shown} == {r["contact_id"] for r in relationships}
    assert {d.get_attribute("data-stage") for d in shown} == {r["stage"] for r in relationships}
    links = [r for r in relationships if r["people_link"]]
    assert len(page.driver.find_elements(By.CSS_SELECTOR, "details.relationship .people-link")) == len(links)
    hired = page.driver.find_element(By.CSS_SELECTOR, '#pipeline li[data-step="first_hire_on"]').text
    assert "not yet" not in hired
    if pipeline["current_job"]:
        reached = {
            int(li.get_attribute("data-days"))
            for li in page.driver.find_elements(By.CSS_SELECTOR, "#milestones li[data-reached=true]")
        }
        assert reached == set(pipeline["current_job"]["milestones_reached"])
    page.screenshot("participant")
    assert page.horizontal_overflow() == 0


def test_a_counselor_cannot_open_a_participant_who_is_not_theirs(page: Browser) -> None:
    world = page.world
    others = world.participants_of("counselor2", active=False)
    page.login("counselor")
    page.open(f"/app/participants/{others[0]}")
    assert page.driver.find_element(By.TAG_NAME, "h1").text == "Not allowed for your role"
    assert "not assigned to you" in page.text()
    assert display_name(page, others[0]) not in page.source()
    # Nor can they log anything for them through the quick form.
    refused = page.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch("/app/follow-ups/entries", {method: "POST", credentials: "same-origin",
          headers: {"content-type": "application/json", "accept": "application/json",
                    "x-csrftoken": document.querySelector('meta[name="csrf-token"]').content},
          body: JSON.stringify({event_id: crypto.randomUUID(), participant_id: arguments[0], what: "response",
                                on: "2026-12-01", at: "10:00", outreach_id: crypto.randomUUID(), outcome: "neutral"})
        }).then((r) => done(r.status));
        """,
        str(others[0]),
    )
    assert refused == 403


def test_staff_open_any_participant(page: Browser) -> None:
    participant = page.world.participants_of("counselor2", active=False)[0]
    page.login("staff")
    page.open(f"/app/participants/{participant}")
    assert page.driver.find_element(By.TAG_NAME, "h1").text == display_name(page, participant)
