"""What the Python sides of bench/compare.ts share (not a benchmark itself): timing a piece of work."""

import time


def timed(fn, warmup, reps):
    """Runs `fn` `warmup` times untimed, then `reps` times, and returns each timed run's milliseconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out
