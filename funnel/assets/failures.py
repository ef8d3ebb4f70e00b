"""How a step fails: transient problems are retried with backoff, the user's problems are not."""

from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import duckdb

from funnel.settings import FunnelError
from funnel.warehouse import WarehouseBusy

MAX_RETRIES = 4
FIRST_WAIT_SECONDS = 2


@contextmanager
def failure_policy(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Wrap a step's work: a database held by someone else (another run past the lock timeout, an
    analyst who opened the working file) is retried after 2, 4, 8, 16 s; a bad funnel.yaml or any
    other FunnelError fails the step at once with its one-line message."""
    try:
        yield
    except WarehouseBusy as exc:
        raise _retry(context, str(exc)) from exc
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise _retry(context, str(exc)) from exc
    except FunnelError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def _retry(context: dg.AssetExecutionContext, why: str) -> dg.RetryRequested:
    wait = FIRST_WAIT_SECONDS * 2**context.retry_number
    context.log.warning(f"transient: {why}; retry {context.retry_number + 1} of {MAX_RETRIES} in {wait} s")
    return dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait)
