"""A group of tasks queued after the commit: in slices with a broker, one after another
in this process without one."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from crowdtest.jobs import dispatch


class FakeTask:
    name = "fake"

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    def s(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def apply(self, *, kwargs: dict[str, Any], throw: bool) -> None:
        self.applied.append(kwargs)


@pytest.mark.django_db
def test_a_group_is_sent_in_slices_once_the_transaction_commits(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/9"
    sent: list[list[dict[str, Any]]] = []

    class FakeGroup:
        def __init__(self, signatures: Any) -> None:
            self.signatures = list(signatures)

        def apply_async(self) -> None:
            sent.append(self.signatures)

    monkeypatch.setattr(dispatch, "group", FakeGroup)
    calls = [{"index": i} for i in range(45)]
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.enqueue_group(FakeTask(), calls)  # type: ignore[arg-type]
        assert sent == []  # not before the commit
    assert [len(part) for part in sent] == [20, 20, 5]
    assert [kwargs for part in sent for kwargs in part] == calls


@pytest.mark.django_db
def test_without_a_broker_the_group_runs_here_in_order(
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    task = FakeTask()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.enqueue_group(task, [{"index": i} for i in range(3)])  # type: ignore[arg-type]
    assert task.applied == [{"index": 0}, {"index": 1}, {"index": 2}]
