"""The unpacker's worker threads: creation work handed over in ordered batches.

``unpack.Rootfs`` checks every entry on its own thread, in order, and hands the creation — the system
calls, which on a busy disk cost milliseconds each (mkdir, symlink, open + write + close) — to worker
threads, so one thread is never left waiting on the kernel while the next entries are ready. The rules
that keep the result the same as an in-order unpack:

- jobs are grouped into batches that run in submission order on one worker each (batches run side by
  side); a job that creates something inside a directory made by an earlier job first waits for that
  directory (``after``: the future ``add`` returned for it). A job only ever waits on jobs submitted
  before it and batches leave the queue in order, so the earliest unfinished job is always running;
- a failed job fails every job of its batch not yet run (their futures too), so nothing waits forever,
  and the first failure is raised by ``wait``;
- the bytes held by batches not yet written are bounded (``LIMIT``); a file too big to hold is read by
  the caller piece by piece into a bounded pipe that a worker writes from (``stream``).
"""

from __future__ import annotations

import collections
import io
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, BinaryIO, cast

from falmigrate import progress

BATCH_JOBS = 48
BATCH_BYTES = 2 << 20
LIMIT = 96 << 20  # bytes of file contents queued for the workers at most
PIECE = 1 << 20
PIPE_DEPTH = 16


class _Job:
    __slots__ = ("abandon", "after", "done", "run")

    def __init__(self, run: Callable[[], None], after: Future | None, done: Future | None,
                 abandon: Callable[[], None] | None = None) -> None:
        self.run, self.after, self.done, self.abandon = run, after, done, abandon


def _run_batch(jobs: list[_Job]) -> None:
    for index, job in enumerate(jobs):
        try:
            if job.after is not None:
                job.after.result()
            job.run()
        except BaseException as exc:
            for rest in jobs[index:]:
                if rest.done is not None and not rest.done.done():
                    rest.done.set_exception(exc)
                if rest.abandon is not None:
                    rest.abandon()
            raise
        if job.done is not None:
            job.done.set_result(None)


class Workers:
    """A pool of ``jobs`` threads taking batches of creation jobs (see the module docstring)."""

    def __init__(self, jobs: int) -> None:
        self._pool = progress.ThreadPool(max_workers=jobs)
        self._batch: list[_Job] = []
        self._batch_bytes = 0
        self._running: collections.deque[tuple[Future, int]] = collections.deque()
        self._running_bytes = 0

    @property
    def busy(self) -> bool:
        """Whether any job is queued or running."""
        return bool(self._batch or self._running)

    def add(self, run: Callable[[], None], *, after: Future | None = None, size: int = 0,
            announce: bool = False) -> Future | None:
        """Queue ``run`` (after ``after``); ``announce``: return a future set once it has run."""
        done: Future | None = Future() if announce else None
        self._batch.append(_Job(run, after, done))
        self._batch_bytes += size
        if len(self._batch) >= BATCH_JOBS or self._batch_bytes >= BATCH_BYTES:
            self.submit()
        return done

    def stream(self, write: Callable[[BinaryIO], None], source: Callable[[], BinaryIO], *,
               after: Future | None = None) -> None:
        """Read ``source`` here, piece by piece, into a pipe that ``write`` reads on a worker thread.
        Returns once all of it is read (written or not yet)."""
        pipe = _Pipe()

        def run() -> None:
            with pipe:
                write(cast(BinaryIO, pipe))

        self.submit()
        job = self._submit([_Job(run, after, None, pipe.close)], 0)
        try:
            with source() as src:
                while data := src.read(PIECE):
                    pipe.put(data)
        except BaseException:
            pipe.fail()  # the writer stops instead of waiting for bytes that will not come
            self._forget(job)  # its failure is this one's consequence: the caller's error is the one raised
            raise
        pipe.put(b"")

    def wait_for(self, future: Future) -> None:
        """Wait (here) until ``future``'s job has run; its failure is raised."""
        if not future.done():
            self.submit()
        future.result()

    def submit(self) -> None:
        """Hand the current batch to the workers."""
        if self._batch:
            batch, size = self._batch, self._batch_bytes
            self._batch, self._batch_bytes = [], 0
            self._submit(batch, size)

    def _submit(self, batch: list[_Job], size: int) -> Future:
        submitted = self._pool.submit(_run_batch, batch)
        self._running.append((submitted, size))
        self._running_bytes += size
        while self._running and (self._running[0][0].done() or self._running_bytes > LIMIT):
            future, held = self._running.popleft()
            self._running_bytes -= held
            future.result()
        return submitted

    def _forget(self, batch: Future) -> None:
        """Wait for ``batch`` to end and drop it, failed or not."""
        batch.exception()
        kept = [(future, held) for future, held in self._running if future is not batch]
        self._running = collections.deque(kept)
        self._running_bytes = sum(held for _, held in kept)

    def wait(self) -> None:
        """Run everything queued and wait for it; re-raise the first failure (every batch still ends)."""
        self.submit()
        running, self._running, self._running_bytes = self._running, collections.deque(), 0
        failure: BaseException | None = None
        for future, _ in running:
            try:
                future.result()
            except BaseException as exc:  # noqa: BLE001 - the first one is raised below
                failure = failure or exc
        if failure is not None:
            raise failure

    def close(self) -> None:
        self._batch = []
        self._pool.shutdown()


class _Pipe(io.RawIOBase):
    """Bytes handed from the reading thread to a writing worker; bounded, so memory stays small. When the
    worker stops reading (its job failed), the reading side's pieces are dropped instead of waited on."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue(PIPE_DEPTH)
        self._closed = threading.Event()
        self._failed = threading.Event()
        self._piece, self._at = b"", 0
        self._ended = False

    def put(self, data: bytes) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(data, timeout=0.1)
                return
            except queue.Full:
                continue

    def fail(self) -> None:
        """The reading side stopped early: the writer's next read raises instead of waiting."""
        self._failed.set()

    def _take(self) -> bytes:
        while not self._failed.is_set():
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        raise EOFError("the source ended before the end of this file")

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._at == len(self._piece) and not self._ended:
            self._piece, self._at = self._take(), 0
            self._ended = not self._piece
        left = len(self._piece) - self._at
        size = left if size is None or size < 0 else min(size, left)
        if self._at == 0 and size == left:  # the whole piece: no copy
            self._at = left
            return self._piece
        data = self._piece[self._at:self._at + size]
        self._at += size
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._closed.set()
        super().close()
