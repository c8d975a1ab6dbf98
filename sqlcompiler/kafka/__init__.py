"""Kafka: the relay publishes run results (relay.py); serve answers processing requests (serve.py)."""
