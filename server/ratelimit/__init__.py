"""Rate limits: sliding multi-window budgets behind one interface (``base.py``), counted in
memory (``memory.py``) or shared through Redis (``redis.py``), and shown on the wire
(``headers.py``). Used by both request budgets (``server/edge.py``) and the login throttle
(``server/auth/throttle.py``)."""
