"""Fetch many URLs concurrently with a rate limit, retries and a small on-disk cache."""

import asyncio
import hashlib
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self):
        async with self._lock:
            now = time.monotonic()
            if now < self._next:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


class DiskCache:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / (hashlib.sha1(key.encode()).hexdigest() + ".json")

    def get(self, key):
        p = self._path(key)
        if p.exists():
            try:
                return json.loads(p.read_text())
            except json.JSONDecodeError:
                p.unlink()
        return None

    def put(self, key, value):
        tmp = self._path(key).with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(self._path(key))


@asynccontextmanager
async def session(limit):
    sem = asyncio.Semaphore(limit)
    try:
        yield sem
    finally:
        log.debug("session closed")


async def fetch_one(url, fetcher, limiter, cache, retries=3):
    cached = cache.get(url)
    if cached is not None:
        return cached
    delay = 0.5
    for attempt in range(1, retries + 1):
        await limiter.wait()
        try:
            status, body = await fetcher(url)
        except (ConnectionError, asyncio.TimeoutError) as exc:
            log.warning("attempt %d for %s failed: %s", attempt, url, exc)
        else:
            if status == 200:
                result = {"url": url, "size": len(body), "body": body[:200]}
                cache.put(url, result)
                return result
            if 400 <= status < 500:
                return {"url": url, "error": status}
        await asyncio.sleep(delay)
        delay *= 2
    return {"url": url, "error": "gave up"}


async def fetch_all(urls, fetcher, per_second=5.0, limit=8, cache_dir=Path(".cache")):
    limiter = RateLimiter(per_second)
    cache = DiskCache(cache_dir)
    async with session(limit) as sem:
        async def guarded(u):
            async with sem:
                return await fetch_one(u, fetcher, limiter, cache)

        return await asyncio.gather(*(guarded(u) for u in urls))


async def fake_fetcher(url):
    await asyncio.sleep(0.01)
    if url.endswith("/missing"):
        return 404, ""
    return 200, f"<html><title>{url}</title></html>"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    pages = [f"https://example.org/page/{i}" for i in range(10)] + ["https://example.org/missing"]
    for r in asyncio.run(fetch_all(pages, fake_fetcher, cache_dir=Path("/tmp/fetch-cache"))):
        print(r)
