#!/usr/bin/env python3
"""plainmon: the usual monitor script, for comparison with failoverd.

    plainmon.py HEALTH_URL START_URL TOKEN INTERVAL THRESHOLD

A check every INTERVAL seconds (sleep after each check, like `while :; do
curl ...; sleep 60; done`); after THRESHOLD consecutive failures it POSTs
START_URL once (Bearer TOKEN), then keeps checking; a success re-arms it.
Runs until killed. Standard library only.
"""
import sys
import time
import urllib.error
import urllib.request


def healthy(url):
    try:
        with urllib.request.urlopen(url, timeout=1.0) as r:
            r.read()
            return 200 <= r.status < 300
    except (OSError, urllib.error.URLError):
        return False


def main():
    url, start_url, token = sys.argv[1], sys.argv[2], sys.argv[3]
    interval, threshold = float(sys.argv[4]), int(sys.argv[5])
    # Never through a proxy, like failoverd's checks.
    urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))
    fails = 0
    while True:
        if healthy(url):
            fails = 0
        else:
            fails += 1
            if fails == threshold:
                req = urllib.request.Request(start_url, data=b"{}", method="POST", headers={
                    "Authorization": "Bearer " + token, "Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(req, timeout=5.0).read()
                except (OSError, urllib.error.URLError) as e:
                    sys.stderr.write("plainmon: start failed: %s\n" % e)
        time.sleep(interval)


if __name__ == "__main__":
    main()
