"""The admin page: users and roles, and the programme settings, through the accounts code the API uses."""

from __future__ import annotations

import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import PASSWORD, Browser


def test_an_admin_adds_a_user_changes_a_role_and_the_settings(page: Browser) -> None:
    page.login("admin")
    page.open("/app/admin")
    email = f"new-{uuid.uuid4().hex[:8]}@e2e.example"
    page.driver.find_element(By.ID, "new-email").send_keys(email)
    Select(page.driver.find_element(By.ID, "new-role")).select_by_value("counselor")
    page.driver.find_element(By.ID, "new-password").send_keys(PASSWORD)
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, 'form[action$="/admin/users"] button'))
    assert page.wait_for("#done").text == "The user was added."
    row = next(r for r in page.driver.find_elements(By.CSS_SELECTOR, "#users tbody tr") if email in r.text)
    user_id = row.get_attribute("data-user-id")

    Select(row.find_element(By.TAG_NAME, "select")).select_by_value("staff")
    page.click_and_load(row.find_element(By.TAG_NAME, "button"))
    assert page.wait_for("#done").text == "The role was changed."
    selected = Select(page.driver.find_element(By.ID, f"role-{user_id}")).first_selected_option
    assert selected.get_attribute("value") == "staff"
    page.world.emails["new"] = email  # the new staff member logs in and reads the overview
    api = page.world.api("new")
    assert api.get("/v1/dashboards/funnel").status_code == 200

    page.driver.find_element(By.ID, "follow_up_after_days").clear()
    page.driver.find_element(By.ID, "follow_up_after_days").send_keys("8")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, "#settings-form button"))
    assert page.wait_for("#done").text == "The settings were saved."
    assert page.driver.find_element(By.ID, "follow_up_after_days").get_attribute("value") == "8"
    page.screenshot("admin")
    assert page.horizontal_overflow() == 0
    # Back to 7, as the other tests expect.
    page.driver.find_element(By.ID, "follow_up_after_days").clear()
    page.driver.find_element(By.ID, "follow_up_after_days").send_keys("7")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, "#settings-form button"))
    assert page.wait_for("#done").text == "The settings were saved."


def test_the_last_admin_cannot_give_up_the_role(page: Browser) -> None:
    page.login("admin")
    page.open("/app/admin")
    me = page.world.user_ids["admin"]
    Select(page.driver.find_element(By.ID, f"role-{me}")).select_by_value("staff")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, f'tr[data-user-id="{me}"] button'))
    assert "the programme needs at least one admin" in page.wait_for(".status").text


def test_a_form_without_its_csrf_token_is_refused(page: Browser) -> None:
    page.login("admin")
    page.open("/app/admin")
    page.driver.execute_script("document.querySelectorAll('input[name=_csrf_token]').forEach((i) => i.remove())")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, "#settings-form button"))
    assert "CSRF token verification failed" in page.wait_for(".status").text
