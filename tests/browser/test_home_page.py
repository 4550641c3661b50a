"""The home page in a real browser: a visitor signs in from it and lands on the account page;
signed in, the page leads to the account page and signs out. Screenshots of both states are
written to AUTHSITE_SCREENSHOT_DIR when it is set (for a person to look at)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.browser import assert_no_console_errors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def screenshot(page, name: str) -> None:
    directory = os.environ.get("AUTHSITE_SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def test_visitor_signs_in_from_the_home_page_and_signs_out_again(page, live_server, user, password):
    user.is_staff = True
    user.save()
    console, missing = [], []
    page.on("console", lambda message: console.append(message))
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    base = live_server.url

    page.goto(f"{base}/")
    screenshot(page, "home-anonymous")
    assert page.get_by_role("link", name="Create an account").is_visible()
    assert page.get_by_role("link", name="Admin console").count() == 0
    page.get_by_role("link", name="Sign in", exact=True).click()

    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base}/accounts/account/")  # no next: the account page

    page.goto(f"{base}/")
    screenshot(page, "home-signed-in")
    assert page.get_by_role("link", name="Admin console").is_visible()
    page.locator("main").get_by_role("link", name="Your account").click()
    page.wait_for_url(f"{base}/accounts/account/")

    page.goto(f"{base}/")
    page.locator("main").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/accounts/login/")
    page.goto(f"{base}/")
    assert page.get_by_role("link", name="Sign in", exact=True).is_visible()
    # Browsers ask for /favicon.ico on their own; everything a page links to must exist.
    assert [url for url in missing if not url.endswith("/favicon.ico")] == []
    assert_no_console_errors([m for m in console if "404" not in m.text])
