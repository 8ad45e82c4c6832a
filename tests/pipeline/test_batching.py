"""MicroBatcher on its own: what is submitted in one loop tick becomes one pipeline call; bad queries in a batch
fail alone, whatever they raise; a full queue refuses; given-up requests are not computed; a request over
``max_batch`` runs in chunks that take turns with later requests."""

from __future__ import annotations

import asyncio
import time

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


def test_any_exception_fails_only_its_own_request(pipe):
    """A bug one text trips in a stage (not a DuihuaError) must not turn its batch neighbours into 500s."""
    real = pipe.batch

    def batch(items):  # noqa: ANN001, ANN202
        texts = [q.text if isinstance(q, Query) else q for q in items]
        if "炸弹" in texts:
            raise RuntimeError("boom")
        if "毒药" in texts:
            "\ud800".encode()  # UnicodeEncodeError, as a lone surrogate raised inside a stage
        return real(items)

    pipe.batch = batch

    async def main() -> list:
        batcher = MicroBatcher(pipe, max_batch=8, max_wait_ms=20)
        await batcher.start()
        jobs = [batcher.submit([Query(text=t)]) for t in ("稻香", "炸弹", "北京", "毒药")]
        jobs.append(batcher.submit([Query(text="周董"), Query(text="炸弹")]))  # a batch request fails as a whole
        results = await asyncio.gather(*(j.future for j in jobs), return_exceptions=True)
        await batcher.stop()
        return results

    good, bomb, good2, poison, mixed = run(main())
    assert good[0].query.text == "稻香" and good2[0].query.text == "北京"
    assert isinstance(bomb, RuntimeError) and isinstance(poison, UnicodeEncodeError)
    assert isinstance(mixed, RuntimeError)


def test_a_large_request_runs_in_chunks_taking_turns(pipe):
    sizes = counting(pipe)
    finished: list[str] = []

    async def main() -> list:
        batcher = MicroBatcher(pipe, max_batch=2, max_wait_ms=0)
        await batcher.start()
        big = batcher.submit([Query(text=f"北京{i}") for i in range(5)])
        small = batcher.submit([Query(text="稻香")])
        big.future.add_done_callback(lambda _: finished.append("big"))
        small.future.add_done_callback(lambda _: finished.append("small"))
        out = await asyncio.gather(big.future, small.future)
        await batcher.stop()
        return [big.chunks, *out]

    chunks, big, small = run(main())
    assert sizes[1:] == [2, 2, 2] and chunks == 3  # big[0:2]; small + big[2:3]; big[3:5]
    assert finished == ["small", "big"]  # the later small request did not wait for all of the big one
    assert [r.query.text for r in big] == [f"北京{i}" for i in range(5)] and small[0].query.text == "稻香"


def test_a_given_up_large_request_stops_between_chunks(pipe):
    real = pipe.batch
    pipe.batch = lambda items: time.sleep(0.05) or real(items)  # each chunk takes a while
    sizes = counting(pipe)

    async def main() -> None:
        batcher = MicroBatcher(pipe, max_batch=2, max_wait_ms=0)
        await batcher.start()
        await batcher._warm_up
        big = batcher.submit([Query(text=f"北京{i}") for i in range(10)])
        while not sizes[1:]:  # the first chunk is running
            await asyncio.sleep(0.001)
        big.future.cancel()  # what asyncio.wait_for does at server.timeout_s
        after = batcher.submit([Query(text="稻香")])
        assert (await after.future)[0].query.text == "稻香"
        await batcher.stop()

    run(main())
    assert sizes[1:] == [2, 1]  # one chunk of the big request, then only the request still waited for


def test_long_texts_run_in_chunks_of_max_batch_chars(pipe):
    """Model time follows characters, so a request of a few long texts is cut by characters too, and a short
    request that arrives meanwhile runs after the first chunk, not after all of them."""
    sizes = counting(pipe)
    finished: list[str] = []

    async def main() -> list:
        batcher = MicroBatcher(pipe, max_batch=32, max_wait_ms=0, max_batch_chars=100)
        await batcher.start()
        await batcher._warm_up
        long = batcher.submit([Query(text="北京" * 30) for _ in range(4)] + [Query(text="稻香" * 80)])
        small = batcher.submit([Query(text="稻香")])
        long.future.add_done_callback(lambda _: finished.append("long"))
        small.future.add_done_callback(lambda _: finished.append("small"))
        out = await asyncio.gather(long.future, small.future)
        await batcher.stop()
        return out

    long, small = run(main())
    # 60 + 60 > 100: one long text per chunk, the short request joins the first; the 160-character text is over
    # the budget on its own, so it runs alone
    assert sizes[1:] == [2, 1, 1, 1, 1] and finished == ["small", "long"]
    assert [len(r.query.text) for r in long] == [60, 60, 60, 60, 160] and small[0].query.text == "稻香"
