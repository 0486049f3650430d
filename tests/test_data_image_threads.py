"""Sharing a per-image loop among threads: every item once, errors raised to the caller."""

from __future__ import annotations

import threading

import pytest

from tui_trainer.data.image_threads import for_each_share


@pytest.mark.parametrize(("count", "threads"), [(10, 1), (10, 2), (10, 3), (2, 4), (0, 2)])
def test_every_item_is_done_once(count: int, threads: int) -> None:
    shares: list[range] = []
    names: set[str] = set()
    lock = threading.Lock()

    def work(share: range) -> None:
        with lock:
            shares.append(share)
            names.add(threading.current_thread().name)

    for_each_share(count, threads, work)
    assert sorted(i for share in shares for i in share) == list(range(count))
    assert len(shares) == max(1, min(threads, count))  # one share per thread, none empty but for count 0
    assert threading.current_thread().name in names  # the caller works too, rather than only waiting


def test_an_error_in_a_worker_reaches_the_caller_after_every_share_finished() -> None:
    finished: list[int] = []

    def work(share: range) -> None:
        if 1 in share:
            raise ValueError("image 1 is broken")
        finished.extend(share)

    with pytest.raises(ValueError, match="image 1 is broken"):
        for_each_share(6, 2, work)
    assert sorted(finished) == [0, 2, 4]
