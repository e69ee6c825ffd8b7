"""Tandem's realtime side: the websocket protocol, the hub and the pub/sub brokers."""
