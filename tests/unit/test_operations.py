"""Probes and metrics: /healthz, /readyz, /metrics, and how the OpenAPI document shows them."""

from __future__ import annotations

import socket
from pathlib import Path

import falcon.testing
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from projections import outbox
from upare.bootstrap import bootstrap
from upare.settings import Settings


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Return every sample of /metrics by name and sorted labels."""
    answer = client.simulate_get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def requests_counted(samples, route: str, method: str, code: str) -> float:
    labels = (("error_code", code), ("method", method), ("route", route))
    return samples.get(("upare_http_requests_total", labels), 0.0)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_ok_outside_the_envelope(client):
    answer = client.simulate_get("/healthz")
    assert (answer.status_code, answer.json) == (200, {"status": "ok"})


def test_readyz_answers_ok_when_the_store_the_read_db_and_the_cache_answer(client):
    answer = client.simulate_get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {
        "status": "ok",
        "checks": {"store": "ok", "read_db": "ok", "cache": "ok"},
    }


def test_readyz_answers_503_naming_the_backend_that_failed(embedded, monkeypatch):
    def refuse() -> None:
        raise ConnectionError("secret host details")

    monkeypatch.setattr(embedded.cache, "ping", refuse)
    answer = falcon.testing.TestClient(create_app(embedded)).simulate_get("/readyz")

    assert answer.status_code == 503
    assert answer.json["failed"] == ["cache"]
    assert answer.json["checks"]["cache"] == "failed: ConnectionError"
    assert "secret" not in answer.text


def test_readyz_checks_kafka_when_it_is_configured(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/db",
        kafka_bootstrap=f"127.0.0.1:{closed_port()}",
    )
    with bootstrap(settings) as container:
        answer = falcon.testing.TestClient(create_app(container)).simulate_get("/readyz")
    assert (answer.status_code, answer.json["failed"]) == (503, ["kafka"])


def test_metrics_count_requests_by_route_method_and_error_code(client):
    route = "/api/user/register"
    before = scrape(client)
    form = {"username": "alice", "password": "correct horse", "email": "alice@x.io"}
    client.simulate_post("/api/User/register", params=form)
    client.simulate_post("/api/user/register", params=form)  # taken: 202002
    client.simulate_get("/api/user/register")  # POST only: 200001
    client.simulate_get("/no/such/route")

    after = scrape(client)

    for labels, added in [
        ((route, "POST", "0"), 1),
        ((route, "POST", "202002"), 1),
        ((route, "GET", "200001"), 1),
        (("unrouted", "GET", "404"), 1),
    ]:
        assert requests_counted(after, *labels) - requests_counted(before, *labels) == added
    latency = (("error_code", "0"), ("method", "POST"), ("route", route))
    assert after[("upare_http_request_duration_seconds_count", latency)] >= 1


def test_metrics_show_each_projections_watermark_lag_and_dead_letters(client, project):
    registered = client.simulate_post(
        "/api/user/register",
        params={"username": "alice", "password": "correct horse", "email": "alice@x.io"},
    )
    position = registered.json["position"]  # the registration's events are the store's all
    users = (("projection", "users"),)

    behind = scrape(client)
    project()
    caught_up = scrape(client)

    assert behind[("upare_pipeline_up", ())] == 1
    assert behind[("upare_store_position", ())] == position
    assert behind[("upare_projection_lag_events", users)] == position
    assert behind[("upare_projection_lag_seconds", users)] >= 0
    assert caught_up[("upare_projection_watermark", users)] == position
    assert caught_up[("upare_projection_lag_events", users)] == 0
    assert caught_up[("upare_projection_generation", users)] == 1
    assert caught_up[("upare_projection_dead_letters", users)] == 0
    assert ("upare_relay_position", ()) not in caught_up  # embedded: no relay


def test_metrics_count_the_outbox_messages_by_status(client, embedded):
    outbox.enqueue(embedded.db, "test:1:1:mail", outbox.mail(to="a@x.io", subject="s", body="b"))

    samples = scrape(client)

    assert samples[("upare_outbox_messages", (("status", "pending"),))] == 1
    assert samples[("upare_outbox_messages", (("status", "failed"),))] == 0


def test_probes_and_metrics_are_documented_apart_from_the_api(client):
    paths = client.simulate_get("/openapi.json").json["paths"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert set(paths[path]) == {"get"}
        assert paths[path]["get"]["tags"] == ["operations"]
        assert "requestBody" not in paths[path]["get"]
