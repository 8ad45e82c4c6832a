"""MicroBatcher on its own: what is submitted in one loop tick becomes one pipeline call; bad queries in a batch
fail alone; a full queue refuses; given-up requests are not computed."""

from __future__ import annotations

import asyncio

import pytest

from pipeline import Pipeline
from pipeline.batching import MicroBatcher, QueueFull
from pipeline.errors import InputError
from pipeline.schema import Query
from tests.conftest import mini_overrides


@pytest.fixture
def pipe(mini_lexicons) -> Pipeline:
    return Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", "segmenter=jieba",
                                                         "intent=none"))


def counting(pipe: Pipeline) -> list[int]:
    """Record the size of every ``Pipeline.batch`` call."""
    sizes: list[int] = []
    real = pipe.batch

    def batch(items):  # noqa: ANN001, ANN202
        sizes.append(len(items))
        return real(items)

    pipe.batch = batch
    return sizes


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def test_jobs_submitted_together_run_as_one_batch_in_order(pipe):
    texts = ["我想听周杰伦的稻香", "北京", "", "播放夜曲", "周董"]
    sizes = counting(pipe)

    async def main() -> list:
        batcher = MicroBatcher(pipe, max_batch=32, max_wait_ms=50)
        await batcher.start()
        jobs = [batcher.submit([Query(text=t)]) for t in texts]
        jobs.append(batcher.submit([Query(text="稻香"), Query(text="去上海")]))  # a /v1/parse/batch request
        out = await asyncio.gather(*(j.future for j in jobs))
        await batcher.stop()
        return out

    out = run(main())
    assert sizes == [1, 7]  # the warm-up, then every request together
    assert [r[0].query.text for r in out] == [*texts, "稻香"] and out[-1][1].query.text == "去上海"
    assert [m.surface for m in out[0][0].sentences[0].slots] == ["周杰伦", "稻香"]


def test_max_batch_caps_a_batch(pipe):
    sizes = counting(pipe)

    async def main() -> None:
        batcher = MicroBatcher(pipe, max_batch=2, max_wait_ms=0)
        await batcher.start()
        await asyncio.gather(*(batcher.submit([Query(text=t)]).future for t in "一二三四五"))
        await batcher.stop()

    run(main())
    assert sizes[1:] == [2, 2, 1]


def test_a_refused_query_fails_alone(pipe):
    async def main() -> tuple:
        batcher = MicroBatcher(pipe, max_batch=8, max_wait_ms=20)
        await batcher.start()
        good = batcher.submit([Query(text="我想听稻香")])
        bad = batcher.submit([Query(text="北京", lexicons=["nope"])])
        results = await asyncio.gather(good.future, bad.future, return_exceptions=True)
        await batcher.stop()
        return results

    good, bad = run(main())
    assert [m.surface for m in good[0].sentences[0].slots] == ["稻香"]
    assert isinstance(bad, InputError) and "nope" in str(bad)


def test_queue_bound_and_given_up_requests(pipe):
    sizes = counting(pipe)

    async def main() -> None:
        batcher = MicroBatcher(pipe, max_batch=8, max_wait_ms=50, queue_size=2)
        await batcher.start()
        kept = batcher.submit([Query(text="稻香")])
        dropped = batcher.submit([Query(text="北京")])
        with pytest.raises(QueueFull, match="server.queue_size=2"):
            batcher.submit([Query(text="周董")])
        dropped.future.cancel()  # the client timed out / went away while queued
        assert (await kept.future)[0].query.text == "稻香"
        await batcher.stop()

    run(main())
    assert sizes == [1, 1]  # warm-up, then only the request still waited for
