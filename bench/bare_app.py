"""The baseline of bench/bench_requests.py: a bare Falcon app with one no-op route, which
gunicorn serves with `upare serve`'s settings (`upare.cli.gunicorn_argv`)."""

import falcon


class NoOp:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


application = falcon.App()
application.add_route("/noop", NoOp())
