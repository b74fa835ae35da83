"""Kafka stopped under a stream of commands: the commands go on (the store is the truth), and
once the broker is back the relay and the projector catch up with every one of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_outages import Stream, becomes_ready, ready, stopped, wait_visible

# Kafka's outage does not depend on the store's backend: it runs on production's, PostgreSQL
pytestmark = [pytest.mark.kafka, pytest.mark.outage, pytest.mark.postgres]
UPARE = str(Path(sys.executable).with_name("upare"))


@pytest.fixture
def server_env(kafka_bootstrap: str) -> dict[str, str]:
    token = uuid.uuid4().hex[:10]
    return {
        "UPARE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "UPARE_KAFKA_TOPIC": f"upare.test.{token}",
        "UPARE_KAFKA_GROUP": f"upare-test-{token}",
    }


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_with_kafka_down_commands_succeed_and_are_projected_once_it_is_back(
    server, settings, server_env, tmp_path
):
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(tmp_path),
        "UPARE_DATABASE_URL": settings.database_url,
        **server_env,
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([UPARE, "worker"], env=env, stdout=log, stderr=log)
        try:
            with Stream(server) as stream:
                time.sleep(1.0)
                with stopped("kafka"):
                    time.sleep(3.0)
                    down = ready(server)
                time.sleep(1.0)
            assert down["failed"] == ["kafka"]
            assert stream.answers and all(answer.code == 0 for answer in stream.answers), [
                a for a in stream.answers if a.code != 0
            ][:3]
            try:
                wait_visible(server, stream.acknowledged(), timeout=90)
            except AssertionError as ex:  # say what the worker was doing
                tail = (tmp_path / "worker.log").read_text(errors="replace")[-6000:]
                raise AssertionError(
                    f"{ex}\nworker exit code {worker.poll()}; log:\n{tail}"
                ) from ex
            answer = becomes_ready(server)
            assert answer["status"] == "ok", answer
        finally:
            worker.terminate()
            worker.wait(timeout=30)
