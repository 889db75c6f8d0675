"""The attempt limiter on both databases, and under parallel reservations on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database
from cagnotte.security.attempts import (
    AttemptLimiter,
    AttemptPolicy,
    AttemptRefused,
    subject_key,
)

POLICY = AttemptPolicy(attempts=3, window=timedelta(minutes=10), lock=timedelta(hours=1))


@pytest.fixture
def limiter(database: Database, clock: ManualClock) -> AttemptLimiter:
    return AttemptLimiter(database, clock)


def _fail(limiter: AttemptLimiter, subject: str = "s") -> None:
    limiter.failed(limiter.reserve("test", subject, POLICY))


def test_the_last_allowed_failure_locks_and_the_lock_refuses_before_anything_is_checked(
    limiter: AttemptLimiter, clock: ManualClock
):
    _fail(limiter)
    _fail(limiter)
    last = limiter.reserve("test", "s", POLICY)
    assert last.is_last
    assert limiter.failed(last) == clock.now() + POLICY.lock
    with pytest.raises(AttemptRefused) as refused:
        limiter.reserve("test", "s", POLICY)
    assert refused.value.until == clock.now() + POLICY.lock
    assert limiter.locked_until("test", "s") == clock.now() + POLICY.lock
    # Another subject and another scope are not touched.
    limiter.reserve("test", "other", POLICY)
    limiter.reserve("other-scope", "s", POLICY)


def test_the_lock_outlasts_the_window_and_a_new_window_starts_once_it_is_over(
    limiter: AttemptLimiter, clock: ManualClock
):
    for _ in range(3):
        _fail(limiter)
    clock.advance(POLICY.window + timedelta(minutes=1))
    with pytest.raises(AttemptRefused):
        limiter.reserve("test", "s", POLICY)
    clock.advance(POLICY.lock)
    assert limiter.locked_until("test", "s") is None
    assert limiter.reserve("test", "s", POLICY).number == 1


def test_a_success_starts_the_count_again(limiter: AttemptLimiter):
    _fail(limiter)
    _fail(limiter)
    limiter.succeeded(limiter.reserve("test", "s", POLICY))
    assert limiter.reserve("test", "s", POLICY).number == 1


def test_failures_in_an_old_window_do_not_count_in_a_new_one(
    limiter: AttemptLimiter, clock: ManualClock
):
    _fail(limiter)
    _fail(limiter)
    clock.advance(POLICY.window)
    assert limiter.reserve("test", "s", POLICY).number == 1


def test_an_attempt_whose_outcome_never_came_stays_counted_until_the_window_ends(
    limiter: AttemptLimiter, clock: ManualClock
):
    for _ in range(3):
        limiter.reserve("test", "s", POLICY)  # never recorded: the process died
    with pytest.raises(AttemptRefused) as refused:
        limiter.reserve("test", "s", POLICY)
    assert refused.value.until == clock.now() + POLICY.window
    clock.advance(POLICY.window)
    assert limiter.reserve("test", "s", POLICY).number == 1


def test_reset_unlocks_and_forget_spent_deletes_only_what_limits_nothing(
    limiter: AttemptLimiter, clock: ManualClock
):
    for _ in range(3):
        _fail(limiter, "locked")
    _fail(limiter, "fresh")
    limiter.reset("test", "locked")
    assert limiter.reserve("test", "locked", POLICY).number == 1
    for _ in range(2):
        _fail(limiter, "locked")
    clock.advance(POLICY.window)
    assert limiter.forget_spent() == 1  # "fresh": its window is over, it has no lock
    clock.advance(POLICY.lock)
    assert limiter.forget_spent() == 1


def test_a_subject_of_personal_data_is_kept_as_a_hash():
    assert subject_key(" Ann@Example.com ") == subject_key("ann@example.com")
    assert "ann" not in subject_key("ann@example.com")
    assert subject_key("a", "b") != subject_key("ab")


@settings(max_examples=40, deadline=None)
@given(outcomes=st.lists(st.booleans(), max_size=12))
def test_never_more_failures_in_a_row_than_the_policy_allows(outcomes: list[bool]):
    database = Database("sqlite://")
    try:
        from cagnotte.db.tables import metadata

        metadata.create_all(database.engine)
        limiter = AttemptLimiter(database, ManualClock())
        failures_in_a_row = 0
        for right in outcomes:
            try:
                attempt = limiter.reserve("test", "s", POLICY)
            except AttemptRefused:
                assert failures_in_a_row == POLICY.attempts
                continue
            if right:
                limiter.succeeded(attempt)
                failures_in_a_row = 0
            else:
                limiter.failed(attempt)
                failures_in_a_row += 1
            assert failures_in_a_row <= POLICY.attempts
    finally:
        database.dispose()


def test_thirty_parallel_reservations_get_exactly_the_policy_s_attempts(
    postgres_url: str, clock: ManualClock
):
    database = Database(postgres_url, pool_size=30)
    try:
        limiter = AttemptLimiter(database, clock)
        barrier = threading.Barrier(30)
        reserved: list[int] = []
        refused: list[AttemptRefused] = []
        errors: list[BaseException] = []

        def one() -> None:
            barrier.wait()
            try:
                attempt = limiter.reserve("test", "parallel", POLICY)
                reserved.append(attempt.number)
                limiter.failed(attempt)
            except AttemptRefused as error:
                refused.append(error)
            except BaseException as error:  # a 5xx-to-be: fails the test
                errors.append(error)

        threads = [threading.Thread(target=one) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(reserved) == [1, 2, 3]
        assert len(refused) == 27
        assert limiter.locked_until("test", "parallel") == clock.now() + POLICY.lock
    finally:
        database.dispose()


def test_a_released_attempt_stops_counting_but_takes_no_failure_away(limiter: AttemptLimiter):
    _fail(limiter)
    limiter.released(limiter.reserve("test", "s", POLICY))
    _fail(limiter)
    last = limiter.reserve("test", "s", POLICY)
    assert last.number == 3 and limiter.failed(last) is not None
    with pytest.raises(AttemptRefused):
        limiter.reserve("test", "s", POLICY)
    assert limiter.counts("test", ["s", "unknown"])["s"].attempts == 3


def test_a_failure_after_a_success_in_the_meantime_locks_nothing(limiter: AttemptLimiter):
    first, second, last = (limiter.reserve("test", "s", POLICY) for _ in range(3))
    limiter.succeeded(first)
    assert limiter.failed(last) is None
    assert limiter.locked_until("test", "s") is None


def test_parallel_right_answers_wait_for_each_other_instead_of_being_refused(
    postgres_url: str, clock: ManualClock
):
    database = Database(postgres_url, pool_size=20)
    try:
        limiter = AttemptLimiter(database, clock)
        barrier = threading.Barrier(20)
        outcomes: list[str] = []

        def one() -> None:
            barrier.wait()
            try:
                attempt = limiter.reserve("test", "right", POLICY, settle=timedelta(seconds=10))
            except AttemptRefused:
                outcomes.append("refused")
                return
            limiter.succeeded(attempt)
            outcomes.append("reserved")

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes == ["reserved"] * 20
    finally:
        database.dispose()
