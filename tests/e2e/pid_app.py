"""A WSGI app for tests/e2e/test_serving.py: answers, a little later, the pid of the
gunicorn worker that served the request."""

import os
import time


def application(environ, start_response):
    time.sleep(0.1)  # long enough that a worker's threads are all busy while clients connect
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
