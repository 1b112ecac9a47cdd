"""Seeded mutation fuzzing, the many-inputs half of the fuzz suites (tests/test_fuzz_*.py): valid
files built in the test are damaged a few bytes at a time (bits flipped, bytes set, the format's
own tokens inserted or written over, runs deleted or repeated, two files spliced) and handed
straight to the reader or loader in this process, so one input costs about a millisecond: no
Hypothesis generation, no subprocess. The Hypothesis suites beside them build structured inputs;
these reach the tens of thousands.

The seed is fixed (SANGAO_FUZZ_SEED, default below): CI tries the same inputs on every run, and a
failure names the seed and the input's number, which replays it. scripts/fuzz.sh sets a random seed
and SANGAO_FUZZ_SCALE for the long run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence

from fuzz_support import SCALE, tried

SEED = int(os.environ.get("SANGAO_FUZZ_SEED", "15"))
# Values that sit on edges of lengths, counts and signs in binary headers (BIFF, zip, OLE2).
EDGES = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\xff\x7f", b"\x00\x80",
         b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\xfe\xff\xff\xff", b"\x01\x00\x00\x00"]


class Mutator:
    """Damages bytes, drawing every choice from one seeded generator (named per suite, so adding a
    suite does not change another's inputs)."""

    def __init__(self, name: str, tokens: Sequence[bytes | str] = ()) -> None:
        self.rng = random.Random(f"{SEED}/{name}")
        self.tokens = [*EDGES, *(t.encode("utf-8") if isinstance(t, str) else t for t in tokens)]

    def choice(self, items: Sequence):
        return items[self.rng.randrange(len(items))]

    def mutate(self, data: bytes, other: bytes = b"") -> bytes:
        rng, out = self.rng, bytearray(data)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(8)
            at = rng.randint(0, len(out))
            if op == 0 and out:  # one bit
                out[at % len(out)] ^= 1 << rng.randrange(8)
            elif op == 1 and out:  # one byte
                out[at % len(out)] = rng.randrange(256)
            elif op == 2:  # a token inserted
                out[at:at] = self.choice(self.tokens)
            elif op == 3:  # a token written over
                token = self.choice(self.tokens)
                out[at:at + len(token)] = token
            elif op == 4:  # a run deleted
                del out[at:at + rng.randint(1, 32)]
            elif op == 5 and out:  # a run repeated elsewhere
                start = rng.randrange(len(out))
                out[at:at] = out[start:start + rng.randint(1, 64)]
            elif op == 6 and other:  # spliced with another file
                out = out[:at] + other[rng.randrange(len(other)):]
            elif op == 7:  # cut short
                del out[at:]
        return bytes(out)


def run(path: str, count: int, make: Callable[[], bytes], check: Callable[[bytes], None]) -> None:
    """`count` (times SANGAO_FUZZ_SCALE) inputs from `make`, each given to `check`, counted under
    `path`. A failure says which input of which seed it was (the same seed makes the same inputs)."""
    for number in range(max(1, int(count * SCALE))):
        data = make()
        tried(path)
        try:
            check(data)
        except Exception as exc:
            raise AssertionError(
                f"{path}: input {number} of SANGAO_FUZZ_SEED={SEED} failed ({type(exc).__name__}: {exc}); "
                f"the input: {data[:3000]!r}") from exc
