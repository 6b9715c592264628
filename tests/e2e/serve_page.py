#!/usr/bin/env python3
"""kpredict serve's web page in headless Chromium, as a person uses it (for tests/e2e/test_serve.sh).

    serve_page.py URL SCREENSHOT MODEL=RECORD [MODEL=RECORD ...]

Opens URL, and for each MODEL fills its form (#form-MODEL) with RECORD (a JSON object: field name
-> value; {} keeps the values the page prefills), presses Predict, and waits for #result-MODEL.
Prints one JSON line per model: {"model", "text" (the result as shown), "prediction", and for a
classifier "probabilities" (class -> the shown text, 3 decimals)}. Saves a screenshot of the page
with its results to SCREENSHOT.

Exit codes: 0 the results were shown; 1 the page did not work (why on stderr); 77 selenium is
not installed (the test decides whether that is a skip).
"""
import json
import shutil
import signal
import sys
import time

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:
    print(f"serve_page.py: selenium is not installed ({e})", file=sys.stderr)
    sys.exit(77)

# Every wait is bounded: a page that never answers fails the test instead of hanging it.
PAGE_LOAD_S = 30
RESULT_S = 15


def element_id(name):
    """The page's ids: anything outside [A-Za-z0-9_-] becomes '_' (lib/ml/src/report.cpp)."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in name)


def fill(driver, model, record):
    for name, value in record.items():
        field = driver.find_element(By.ID, f"{element_id(model)}-{element_id(name)}")
        if field.tag_name == "select":
            Select(field).select_by_value(str(value))
        else:
            field.clear()
            field.send_keys("" if value is None else str(value))


def read_result(driver, model):
    """Waits for #result-MODEL to show an answer (or an error), and returns its text."""
    result = driver.find_element(By.ID, f"result-{element_id(model)}")

    def shown(_):  # the page writes '\u2026' while the request is out, then the answer or the error
        text = result.text.strip()
        return text not in ("", "\u2026")

    WebDriverWait(driver, RESULT_S, poll_frequency=0.1).until(shown)
    text = result.text.strip()
    if "error" in (result.get_attribute("class") or ""):
        raise RuntimeError(f"#result-{model} shows an error: {text}")
    return text


def parse_result(model, text):
    """'prediction: heavy\\nheavy: 0.637\\n...' for a classifier, the number for a regressor."""
    lines = text.splitlines()
    answer = {"model": model, "text": text}
    if lines and lines[0].startswith("prediction: "):
        answer["prediction"] = lines[0][len("prediction: "):]
        answer["probabilities"] = dict(line.rsplit(": ", 1) for line in lines[1:])
    else:
        answer["prediction"] = text
    return answer


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 1
    url, screenshot = argv[1], argv[2]
    forms = []
    for spec in argv[3:]:
        model, _, record = spec.partition("=")
        forms.append((model, json.loads(record or "{}")))

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = None
    # A SIGTERM (the test's timeout) still quits the browser: no Chromium left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        started = time.monotonic()
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(PAGE_LOAD_S)
        driver.get(url)
        print(f"serve_page.py: Chromium up and the page loaded in {time.monotonic() - started:.1f} s", file=sys.stderr)
        for model, record in forms:
            fill(driver, model, record)
            driver.find_element(By.CSS_SELECTOR, f"#form-{element_id(model)} button[type=submit]").click()
            answer = parse_result(model, read_result(driver, model))
            print(json.dumps(answer), flush=True)
        driver.execute_script("window.scrollTo(0, 0)")
        if not driver.save_screenshot(screenshot):
            raise RuntimeError(f"could not save the screenshot {screenshot}")
        return 0
    except TimeoutException:
        print(f"serve_page.py: no result shown within {RESULT_S} s", file=sys.stderr)
    except (WebDriverException, RuntimeError, ValueError) as e:
        print(f"serve_page.py: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # the browser is already gone: nothing left to quit
                pass
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
