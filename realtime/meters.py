"""What the realtime side counts for the metrics (contract §10), as a hook object.

The hub, the connections and the broker report through a :class:`Meters` handed to them by
the composition root. This base counts nothing: it is what runs when ``TANDEM_METRICS`` is
off, so the hot paths pay one no-op call. The Prometheus implementation lives with the
server (server/metrics.py); nothing here imports it, so this file sits on the ground floor.
"""

from __future__ import annotations


class Meters:
    """Counts nothing; :attr:`on` lets a caller skip work done only for the counting."""

    on = False

    def websocket_opened(self) -> None:
        pass

    def websocket_closed(self) -> None:
        pass

    def subscribed(self) -> None:
        pass

    def unsubscribed(self) -> None:
        pass

    def events_appended(self, count: int) -> None:
        pass

    def delivered(self, frames: int, committed_at: float | None = None) -> None:
        """``frames`` event frames handed to connections; ``committed_at`` (epoch seconds)
        is the event's ``at`` for a live event, whose lag to now is observed once."""

    def reset_sent(self, count: int = 1) -> None:
        pass

    def broker_reconnected(self) -> None:
        pass


NO_METERS = Meters()
