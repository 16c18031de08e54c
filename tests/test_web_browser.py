"""The dashboard in a real browser (Debian's chromium via chromedriver): log in, upload a capture,
watch the scan finish, open a finding, open a case, move it along, export the report.
Screenshots are kept under test-artifacts/ for a person to look at."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from web_helpers import PASSWORD, make_env

pytestmark = pytest.mark.slow
ART = Path(__file__).resolve().parents[1] / "test-artifacts"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def server(tmp_path):
    uvicorn = pytest.importorskip("uvicorn")
    env = make_env(tmp_path)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield env, f"http://localhost:{port}"
    srv.should_exit = True
    t.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.skip("Debian chromium and chromium-driver are not installed (make sysdeps)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
              f"--user-data-dir={tmp_path / 'chrome-profile'}"):  # fmt: skip
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _wait_text(drv, element_id: str, text: str, timeout: float = 20) -> None:
    """Wait for a form submission to land (the old page's elements go stale meanwhile)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    end = time.time() + timeout
    while time.time() < end:
        try:
            if drv.find_element(By.ID, element_id).text == text:
                return
        except WebDriverException:  # not there yet, stale, or gone mid-read (see _wait_job)
            pass
        time.sleep(0.1)
    raise AssertionError(f"#{element_id} never showed {text!r}")


def _wait_job(drv, timeout: float = 120) -> str | None:
    """The job page refreshes itself (no JavaScript) until the scan is over; its final state class."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    state = None
    while time.time() < deadline and state not in ("job-done", "job-done_with_errors", "job-failed"):
        # the page may reload between finding the element and reading it: Chromium reports that as a
        # stale element or, sometimes, as an inspector error ("Node ... does not belong to the document")
        with contextlib.suppress(WebDriverException):
            state = drv.find_element(By.ID, "job-state").get_attribute("class")
        time.sleep(0.3)
    return state


def _wait_url(drv, ok, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if ok(drv.current_url):
            return
        time.sleep(0.1)
    raise AssertionError(f"page never arrived; at {drv.current_url}")


def shot(drv, name: str) -> None:
    ART.mkdir(exist_ok=True)
    drv.save_screenshot(str(ART / f"web-{name}.png"))


def test_analyst_journey_in_chromium(server, browser, tmp_path):
    scenario = pytest.importorskip("minewatch.synth.scenario")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _env, base = server
    d = browser
    cap = scenario.write_demo_capture(tmp_path / "demo.pcapng")

    d.get(base + "/findings")
    assert "/login" in d.current_url
    d.find_element(By.ID, "username").send_keys("analyst")
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    shot(d, "01-login")
    d.find_element(By.ID, "login-button").click()
    _wait_url(d, lambda u: u.endswith("/findings"))

    d.get(base + "/upload")
    d.find_element(By.ID, "upload-file").send_keys(str(cap))
    d.find_element(By.ID, "upload-button").click()
    _wait_url(d, lambda u: "/jobs/" in u)
    state = _wait_job(d)
    shot(d, "02-job")
    assert state == "job-done", d.find_element(By.TAG_NAME, "body").text[:3000]

    links = d.find_elements(By.CLASS_NAME, "finding-link")
    assert links, "the finished job lists its findings"
    d.get(links[0].get_attribute("href"))
    _wait_url(d, lambda u: "/findings/" in u)
    assert d.find_elements(By.ID, "evidence")
    shot(d, "03-finding")
    d.find_element(By.ID, "case-title").send_keys("Demo rigs")
    d.find_element(By.ID, "open-case").click()
    _wait_text(d, "case-state", "suspected")
    for state, shown in (("investigating", "under investigation"), ("confirmed", "confirmed")):
        Select(d.find_element(By.ID, "next-state")).select_by_value(state)
        d.find_element(By.ID, "change-state").click()
        _wait_text(d, "case-state", shown)
    assert d.find_element(By.ID, "case-state").text == "confirmed"
    d.find_element(By.ID, "note-body").send_keys("Visited; machines seized.")
    d.find_element(By.ID, "add-note").click()
    _wait_url(d, lambda u: "Visited; machines seized." in d.page_source)
    shot(d, "04-case")
    d.find_element(By.ID, "report-html").click()
    _wait_url(d, lambda u: u.endswith("/report.html"))
    assert "Case report / 案件报告" in d.page_source and "Visited; machines seized." in d.page_source
    shot(d, "05-report")
    d.get(base + "/?lang=zh")
    assert "概览" in d.page_source
    shot(d, "06-overview-zh")

    # flow logs: a Zeek conn.log and its ssl.log chosen together in one upload (input `multiple`)
    from test_web_uploads import POOL_SNI, zeek_pair

    logs_dir = tmp_path / "zeek"
    logs_dir.mkdir()
    conn, ssl = zeek_pair(logs_dir)
    d.get(base + "/upload")
    d.find_element(By.ID, "upload-file").send_keys(f"{conn}\n{ssl}")
    d.find_element(By.ID, "upload-button").click()
    _wait_url(d, lambda u: "/jobs/" in u)
    state = _wait_job(d)
    shot(d, "07-log-job")
    assert state == "job-done", d.find_element(By.TAG_NAME, "body").text[:3000]
    assert d.find_element(By.ID, "job-kind").text == "Zeek 日志（TSV）"  # the page is still in Chinese
    assert len(d.find_elements(By.CSS_SELECTOR, "#job-files li")) == 2
    d.get(d.find_elements(By.CLASS_NAME, "finding-link")[0].get_attribute("href"))
    assert POOL_SNI in d.page_source


def test_meter_upload_with_its_options_in_chromium(server, browser, tmp_path):
    """The upload form's meter fields (unit, interval, clock, metadata file) as a browser sends them:
    a 96-point kWh export read as kWh gives the rig's 13 kW, the job page says how it was read; a
    garbage file chosen with it fails alone (the job is "done with errors", the meter file scanned)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from test_web_meter_options import META, RIG_KW, meter_96
    from test_web_partial_uploads import garbage

    env, base = server
    d = browser
    meter = meter_96(tmp_path / "p96-kwh.csv")
    meta = tmp_path / "customers.csv"
    meta.write_text(META)
    junk = tmp_path / "garbage.pcap"
    junk.write_bytes(garbage())
    d.get(base + "/login")
    d.find_element(By.ID, "username").send_keys("analyst")
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "login-button").click()
    _wait_url(d, lambda u: not u.endswith("/login"))
    d.get(base + "/upload?lang=en")
    d.find_element(By.ID, "upload-file").send_keys(f"{meter}\n{junk}")
    Select(d.find_element(By.ID, "upload-meter-unit")).select_by_value("kwh")
    Select(d.find_element(By.ID, "upload-meter-interval")).select_by_value("15min")
    tz = d.find_element(By.ID, "upload-meter-tz")
    tz.clear()
    tz.send_keys("8")
    d.find_element(By.ID, "upload-meta").send_keys(str(meta))
    shot(d, "08-meter-form")
    d.find_element(By.ID, "upload-button").click()
    _wait_url(d, lambda u: "/jobs/" in u)
    state = _wait_job(d)
    shot(d, "09-meter-job")
    assert state == "job-done_with_errors", d.find_element(By.TAG_NAME, "body").text[:3000]
    (failed,) = d.find_elements(By.CSS_SELECTOR, "#job-files li.file-failed")
    assert failed.text.startswith("garbage.pcap") and "byte 0: neither a packet capture" in failed.text
    assert d.find_element(By.ID, "job-failed-files").text == "1 of 2 files could not be read"
    shown = d.find_element(By.ID, "job-meter-options").text
    assert "kWh per interval" in shown and "15 min" in shown and "UTC+8" in shown and "customers.csv" in shown
    assert not d.find_elements(By.ID, "job-warnings")  # the unit was given, nothing assumed
    job = env.app.state.jobs.get(d.current_url.rsplit("/", 1)[1])
    assert job.meter.meta is not None and [f.filename for f in job.files] == ["p96-kwh.csv", "garbage.pcap"]
    (rig,) = [f for f in env.api("viewer").get("/api/v1/findings", params={"meter_id": "310001"}).json()["items"]]
    assert abs(rig["kw_mining"] - RIG_KW) < 0.3 and rig["machines_est"] == 4
