"""Prometheus collectors on an injected CollectorRegistry, and the text exposition."""
