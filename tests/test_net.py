"""The network rules (`ptmlock._net`): back-off, retries, the bound on a call, the stall rule.
End to end against slow servers: tests/hubs/test_deadlines.py."""
from __future__ import annotations

import time

import pytest

from ptmlock._net import (
    REFUSED_TRIES,
    NetLimits,
    Retry,
    StallWatch,
    backoff,
    run_within,
    with_retries,
)
from ptmlock.errors import HubError, HubUnavailableError


@pytest.mark.parametrize(("attempt", "cap"), [(1, 0.25), (2, 0.5), (3, 1.0), (6, 8.0), (30, 8.0)])
def test_backoff_doubles_to_a_cap_with_jitter(attempt, cap):
    delays = [backoff(attempt) for _ in range(200)]
    assert all(cap / 2 <= d <= cap for d in delays)
    assert max(delays) - min(delays) > cap / 10  # jittered, so clients do not retry in step


def test_limits_come_from_the_environment_and_refuse_nonsense(monkeypatch):
    from ptmlock.errors import SettingsError

    monkeypatch.setenv("PTMLOCK_HUB_TIMEOUT", "3")
    limits = NetLimits.from_env()
    assert (limits.timeout, limits.deadline, limits.stall) == (3.0, 60.0, 30.0)
    for name, bad in (("PTMLOCK_HUB_DEADLINE", "-5"), ("PTMLOCK_STALL_TIMEOUT", "soon")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=f"{name}='{bad}' is not a number of seconds"):
            NetLimits.from_env()
        monkeypatch.delenv(name)
    assert NetLimits.from_env(deadline=7).deadline == 7
    assert limits.request_timeout(1.5) == 1.5 and limits.request_timeout(10) == 3.0


def test_refused_connections_are_given_up_after_a_few_tries():
    calls = []

    def attempt(left: float) -> str:
        calls.append(left)
        raise Retry("ConnectError", refused=True)

    with pytest.raises(HubUnavailableError) as e:
        with_retries(attempt, limits=NetLimits(deadline=60), source="The hub at X", subject="model 'a'",
                     fix="Check HF_ENDPOINT")
    assert len(calls) == REFUSED_TRIES
    assert str(e.value).startswith(f"The hub at X did not answer model 'a' after {REFUSED_TRIES} attempts")
    # issue 24: nobody listens, so no timeout setting is named (they would not help)
    assert str(e.value).endswith("(last: ConnectError): the connection was refused, nothing is listening there. "
                                 "Check HF_ENDPOINT, then try again."), str(e.value)
    assert "PTMLOCK_HUB_TIMEOUT" not in str(e.value)


def test_transient_failures_are_retried_until_an_answer():
    answers = iter([Retry("HTTP 503"), Retry("HTTP 429"), "ok"])

    def attempt(left: float) -> str:
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    assert with_retries(attempt, limits=NetLimits(deadline=30), source="s", subject="", fix="f") == "ok"


def test_a_final_error_is_not_retried():
    calls = []

    def attempt(left: float) -> str:
        calls.append(1)
        raise HubError("404")

    with pytest.raises(HubError, match="404"):
        with_retries(attempt, limits=NetLimits(deadline=30), source="s", subject="", fix="f")
    assert calls == [1]


def test_run_within_returns_raises_and_cuts_a_call_that_does_not_finish():
    assert run_within(5, lambda: 42) == 42
    with pytest.raises(ValueError, match="boom"):
        run_within(5, lambda: (_ for _ in ()).throw(ValueError("boom")))
    late: list[str] = []
    start = time.monotonic()
    with pytest.raises(Retry, match="Timeout: no complete answer within 0.3s"):
        run_within(0.3, lambda: time.sleep(1.0) or "late", on_late=late.append)
    assert time.monotonic() - start < 0.9
    time.sleep(1.2)
    assert late == ["late"]  # a result that arrives after the cut is handed over (to be closed)


def test_stall_watch_cuts_a_trickle_but_not_a_steady_stream(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    steady = StallWatch(stall=2, limit=60)
    for _ in range(10):  # ten seconds at 64 KiB/s
        now[0] += 1
        steady.update(64 * 1024)
    trickle = StallWatch(stall=2, limit=60)
    now[0] += 1
    trickle.update(1)  # one byte a second: not yet a whole window
    now[0] += 1
    with pytest.raises(Retry, match="stalled: 2 bytes in 2.0s"):
        trickle.update(1)
    short = StallWatch(stall=30, limit=1.5)  # no more than the deadline left
    now[0] += 1.5
    with pytest.raises(Retry):
        short.update(10)
