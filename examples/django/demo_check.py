"""The demo, used as a person would (examples/django/run.sh demo-check).

Opens the checkout page at the URL given, fills in the form (its CSRF token
and cookie as a browser keeps them), asks for payment, follows the redirect
to the invoice's page and reloads it until the invoice reads "paid" (the
sandbox's payer approves after 5 s and MTN's callback reaches Django's
server).  Prints "ok demo ..." lines, or "FAILED demo ..." and exits 1.
Python's standard library only.
"""
import http.cookiejar
import re
import sys
import time
import urllib.parse
import urllib.request


def fail(what):
    print(f"FAILED demo: {what}")
    sys.exit(1)


def main(base):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    deadline = time.monotonic() + 60
    while True:  # the server may still be starting
        try:
            page = opener.open(base + "/", timeout=10).read().decode()
            break
        except OSError as e:
            if time.monotonic() > deadline:
                fail(f"the checkout page at {base}/ does not answer: {e}")
            time.sleep(0.5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not token or "Mobile money number" not in page:
        fail("the checkout page has no form")
    print("ok demo checkout page")
    form = urllib.parse.urlencode({
        "csrfmiddlewaretoken": token.group(1), "invoice_no": "DEMO-1",
        "customer_msisdn": "46733000025", "amount": "25", "currency": "EUR"}).encode()
    req = urllib.request.Request(base + "/", data=form, headers={"Referer": base + "/"})
    answer = opener.open(req, timeout=30)
    url = answer.geturl()
    if "/invoices/" not in url:
        fail(f"asking for payment led to {url}, not an invoice's page")
    print("ok demo invoice created; its page is " + url[len(base):])
    deadline = time.monotonic() + 60
    while True:
        page = opener.open(url, timeout=10).read().decode()
        status = re.search(r'<strong id="invoice-status">([^<]*)</strong>', page)
        if status and status.group(1) == "paid":
            break
        if time.monotonic() > deadline:
            fail(f"the invoice still reads {status.group(1) if status else '?'} after 60 s")
        time.sleep(0.5)
    print("ok demo invoice paid through MTN's callback")


if __name__ == "__main__":
    main(sys.argv[1])
