"""A real browser (Debian's chromium, headless, driven by selenium) through the authorize pages
of a real `upare serve`: it logs in on the login page, approves (or declines) on the consent
page, and lands on the client's redirect URI, a tiny HTTP server here.

The captcha is in test mode (its answer PASSED); test_captchas_over_http.py has the real ones.
Without chromium the test is skipped, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from commands.clients import CreateClient
from domain.keys import digest
from domain.oauth import code_authorization_id
from tests.conftest import missing_service
from upare.bootstrap import bootstrap

STATE = "room 7 & more=yes/é"
WAIT_SECONDS = 10


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"UPARE_CAPTCHA_TEST_MODE": "1"}


class Landing(BaseHTTPRequestHandler):
    """The client's redirect URI: answers every GET with a page saying it landed."""

    def do_GET(self) -> None:
        body = b"<!DOCTYPE html><title>landed</title><p id='landed'>landed</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirect_uri() -> Iterator[str]:
    landing = ThreadingHTTPServer(("127.0.0.1", 0), Landing)
    thread = threading.Thread(target=landing.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{landing.server_address[1]}/callback?app=demo"
    landing.shutdown()
    landing.server_close()


@pytest.fixture
def browser() -> Iterator[object]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        missing_service("chromium and chromium-driver", "run `bash scripts/browser.sh`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(WAIT_SECONDS)
    yield chrome
    chrome.quit()


def wait_for(chrome, element_id: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.ID, element_id))
    return WebDriverWait(chrome, WAIT_SECONDS).until(located)


def landed(chrome, redirect_uri: str) -> dict[str, list[str]]:
    """Return the query the browser landed on the redirect URI with."""
    wait_for(chrome, "landed")
    assert chrome.current_url.startswith(redirect_uri + "&")
    return parse_qs(urlsplit(chrome.current_url).query)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_browser_logs_in_approves_and_lands_with_the_code_then_declines(
    server, settings, browser, redirect_uri
):
    form = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
    uid = requests.post(f"{server}/api/User/register", data=form, timeout=10).json()["uid"]
    with bootstrap(settings, install=False) as upare:
        first, second = (
            upare.bus.execute(
                CreateClient(name="Demo <App>", redirect_uris=(redirect_uri,))
            ).fields["client_id"]
            for _ in range(2)
        )

        request = {"response_type": "code", "redirect_uri": redirect_uri, "state": STATE}
        browser.get(f"{server}/api/oauth/authorize?" + urlencode({**request, "client_id": first}))
        wait_for(browser, "username").send_keys("alice")
        browser.find_element("id", "password").send_keys("correct horse")
        browser.find_element("id", "captcha").send_keys("PASSED")
        browser.find_element("id", "login").click()
        assert "Demo <App>" in wait_for(browser, "approve").find_element("xpath", "/html/body").text
        browser.find_element("id", "approve").click()

        query = landed(browser, redirect_uri)
        assert (query["app"], query["state"]) == (["demo"], [STATE])
        authorization = upare.app.repository.get(code_authorization_id(digest(query["code"][0])))
        assert (authorization.uid, authorization.client_id) == (uid, first)

    browser.get(f"{server}/api/oauth/authorize?" + urlencode({**request, "client_id": second}))
    wait_for(browser, "decline").click()  # logged in already: straight to the consent page
    query = landed(browser, redirect_uri)
    assert (query["error"], query["state"]) == (["access_denied"], [STATE])
    assert "code" not in query
