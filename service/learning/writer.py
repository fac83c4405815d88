"""The snippet writer: one thread that writes snippets and labels, and keeps the directory in bounds.

The core hands it jobs (:class:`~service.learning.keeper.SnippetJob`,
:class:`~service.learning.keeper.RelabelJob`) with :meth:`SnippetWriter.submit`, which never
blocks: a full queue drops the job with a warning.  A disk that is full or read-only costs the
snippet, never an alarm.  After every write the directory is brought back within
``snippets.max_total_mb`` and ``snippets.retention_days``, and ``on_change`` hears the new
label tally (for the retained state and Home Assistant).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from service.config import Config
from service.learning.keeper import EstimateJob, RelabelJob, SnippetJob
from service.learning.snippets import SnippetStore, _start_of
from service.learning.summary import SUGGEST_AFTER_LABELS, read_estimate, tally, write_estimate

log = logging.getLogger(__name__)

QUEUE_JOBS = 8
"""Jobs waiting at most (a snippet job holds up to a few MB of samples)."""
NIGHT_S = 12 * 3600.0
"""``snippets.max_night_mb`` counts the episode snippets that start within this long before a new one."""


class SnippetWriter:
    """Writes snippet jobs on its own thread (:meth:`start`), or inline with :meth:`run_pending` in tests."""

    def __init__(self, config: Config, on_change: Callable[[dict], None] | None = None):
        self.config = config
        self.store = SnippetStore(config.state_dir)
        self.on_change = on_change
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_JOBS)
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self.over_budget = 0
        self._thread: threading.Thread | None = None

    def submit(self, job: Any) -> bool:
        """Queue a job; False (and a warning) when the queue is full."""
        try:
            self.queue.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            log.warning("snippets: the writer is behind, a snippet was not kept (%d so far)", self.dropped)
            return False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="snippets", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is None:
            self.run_pending()
            return
        self.queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued job is done (tests, ``stop``); False on timeout."""
        done = threading.Event()

        def waiter():
            self.queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def run_pending(self) -> None:
        """Do the queued jobs on this thread."""
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                return
            try:
                if job is not _STOP:
                    self._do(job)
            finally:
                self.queue.task_done()

    def enforce(self) -> None:
        s = self.config.snippets
        try:
            removed = self.store.enforce(int(s.max_total_mb * 1e6), s.retention_days)
        except OSError as exc:
            log.warning("snippets: cannot tidy %s: %s", self.store.dir, exc)
            return
        if removed:
            log.info("snippets: removed %d old snippet(s) to stay within %g MB and %d days", len(removed),
                     s.max_total_mb, s.retention_days)

    def estimate(self) -> dict | None:
        """Run the tuner on the labelled snippets when the labels changed since the last estimate.

        Only with enough labels (:data:`~service.learning.summary.SUGGEST_AFTER_LABELS`), on this
        thread, once per night at most: it replays every labelled snippet and the reference cramps
        for each candidate, a few seconds of CPU.
        """
        snippets = list(self.store.iter_labelled())
        counts = tally(snippets)
        if counts["cramp"] + counts["false_alarm"] + counts["missed_cramp"] < SUGGEST_AFTER_LABELS:
            return None
        from service.learning import tune  # only now: the tuner and the simulator's cramps cost memory
        from service.learning.active import with_active_tuning

        fingerprint = sorted(f"{s.name}:{s.label}" for s in snippets)
        last = read_estimate(self.config.state_dir)
        if last and last.get("fingerprint") == fingerprint:
            return last
        result = tune.tune(with_active_tuning(self.config), tune.snippet_cases(self.config.state_dir))
        cur, new = result.current.score, result.chosen.score
        estimate = {"fingerprint": fingerprint, "accepted": result.improved,
                    "false_alarms_before": cur.false_alarms, "false_alarms_after": new.false_alarms,
                    "cramps": len(new.confirmed), "cramps_kept": sum(new.confirmed),
                    "missed": len(new.missed), "missed_caught": sum(new.missed),
                    "reference": f"{sum(new.reference)}/{len(new.reference)}",
                    "fragment": tune.fragment(result)}
        write_estimate(self.config.state_dir, estimate)
        log.info("snippets: tune would take false alarms from %d to %d on the labels so far", cur.false_alarms,
                 new.false_alarms)
        return estimate

    def _night_full(self, job: SnippetJob) -> bool:
        """Whether this night's episode snippets have reached ``snippets.max_night_mb`` (then this one is not kept).

        Only episodes count and are refused: a report (false alarm, missed cramp) is the sleeper's own, rare
        and the most useful label, so it is always kept.  The sum is taken from the directory, so a restart
        in the night does not reset it; a night may exceed the figure by at most its last snippet."""
        since = job.start_wall.timestamp() - NIGHT_S
        used = sum(s.size for s in self.store.list()
                   if s.doc.get("trigger") == "episode" and _start_of(s).timestamp() >= since)
        cap = self.config.snippets.max_night_mb * 1e6
        if used < cap:
            return False
        self.over_budget += 1
        log.warning("snippets: this night's episode snippets already take %.2f MB (snippets.max_night_mb = %g): "
                    "not keeping this one (the alarm and the night record are not affected)", used / 1e6,
                    self.config.snippets.max_night_mb)
        return True

    # ------------------------------------------------------------ the thread

    def _loop(self) -> None:
        self.enforce()
        while True:
            job = self.queue.get()
            try:
                if job is _STOP:
                    return
                self._do(job)
            finally:
                self.queue.task_done()

    def _do(self, job: Any) -> None:
        try:
            if isinstance(job, SnippetJob):
                if job.trigger == "episode" and self._night_full(job):
                    return
                snippet = self.store.write(job.t, job.accel, job.doc, job.start_wall, job.leg, job.trigger)
                self.written += 1
                log.info("snippet kept: %s (%s, %.0f s, %d bytes)", snippet.name, snippet.label,
                         float(job.t[-1] - job.t[0]), snippet.size)
                self.enforce()
            elif isinstance(job, RelabelJob):
                if self.store.relabel_episode(job.episode_id, job.label, job.by) is None:
                    log.info("snippets: no snippet kept for episode %s", job.episode_id)
            elif isinstance(job, EstimateJob):
                self.estimate()
                return
        except (OSError, ValueError) as exc:
            self.failed += 1
            log.warning("snippets: could not write (%s); the alarm itself is not affected", exc)
            return
        except Exception:  # a bug here must not end the thread: later snippets still count
            self.failed += 1
            log.exception("snippets: unexpected error")
            return
        if self.on_change is not None:
            try:
                self.on_change(tally(self.store.list()))
            except Exception:  # noqa: BLE001 - the tally is a nicety
                log.debug("snippets: tally failed", exc_info=True)


_STOP = object()
