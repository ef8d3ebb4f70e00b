"""Transient failures are retried with backoff; the user's own mistakes fail at once."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pytest

from funnel.assets.failures import MAX_RETRIES, failure_policy
from funnel.config import ConfigError
from funnel.warehouse import WarehouseBusy, exclusive_lock


def step_context(retry_number: int = 0) -> SimpleNamespace:
    """What the policy reads of a step's context (Dagster's built test contexts have no retry number)."""
    return SimpleNamespace(retry_number=retry_number, log=logging.getLogger("test"))


def test_a_busy_warehouse_is_retried_with_backoff():
    with pytest.raises(dg.RetryRequested) as raised:
        with failure_policy(step_context()):
            raise WarehouseBusy("pipeline.duckdb stayed in use by another run for 600 s")
    assert raised.value.max_retries == MAX_RETRIES == 4
    assert raised.value.seconds_to_wait == 2
    waits = []
    for attempt in range(1, 4):
        with pytest.raises(dg.RetryRequested) as raised:
            with failure_policy(step_context(attempt)):
                raise WarehouseBusy("busy")
        waits.append(raised.value.seconds_to_wait)
    assert waits == [4, 8, 16]


def test_a_duckdb_lock_conflict_is_retried_but_other_duckdb_io_errors_are_not():
    with pytest.raises(dg.RetryRequested):
        with failure_policy(step_context()):
            raise duckdb.IOException('IO Error: Could not set lock on file "pipeline.duckdb"')
    with pytest.raises(duckdb.IOException):
        with failure_policy(step_context()):
            raise duckdb.IOException("IO Error: No space left on device")


def test_a_config_error_fails_at_once_with_its_message():
    with pytest.raises(dg.Failure) as raised:
        with failure_policy(step_context()):
            raise ConfigError("/home/funnel.yaml", "roles.ml.pipeline", "stage 'x' is not in the stage catalog")
    assert raised.value.allow_retries is False
    assert raised.value.description == "/home/funnel.yaml: roles.ml.pipeline: stage 'x' is not in the stage catalog"


def test_the_lock_waits_for_the_holder_then_gives_up_after_the_timeout(tmp_path: Path):
    db = tmp_path / "pipeline.duckdb"
    released = threading.Event()

    def hold(seconds: float) -> None:
        with exclusive_lock(db):
            released.wait(seconds)

    holder = threading.Thread(target=hold, args=(0.6,))
    holder.start()
    time.sleep(0.1)
    started = time.monotonic()
    with exclusive_lock(db, timeout=5):  # waits until the holder lets go, then gets it
        waited = time.monotonic() - started
    holder.join()
    assert 0.3 < waited < 5

    holder = threading.Thread(target=hold, args=(5,))
    holder.start()
    time.sleep(0.1)
    with pytest.raises(WarehouseBusy, match="stayed in use by another run for 0 s"):
        with exclusive_lock(db, timeout=0.3):
            pass
    released.set()
    holder.join()
