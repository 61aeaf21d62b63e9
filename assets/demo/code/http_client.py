"""A tiny HTTP client with retries."""

import random
import time
import urllib.request


def fetch(url: str, attempts: int = 5, base_delay: float = 0.5) -> bytes:
    """Fetch a URL, retrying with exponential backoff and jitter on failure."""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        except OSError:
            if attempt == attempts - 1:
                raise
            delay = base_delay * (2**attempt) * (1 + random.random() / 2)
            time.sleep(delay)
    raise RuntimeError("unreachable")


class RateLimiter:
    """Allow at most `rate` calls per second (token bucket)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()

    def acquire(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            time.sleep((1 - self.tokens) / self.rate)
            self.tokens = 0
        else:
            self.tokens -= 1
