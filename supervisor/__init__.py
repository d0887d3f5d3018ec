"""asterisk-supervisor: makes an Asterisk PBX a well-behaved Kubernetes workload."""

__version__ = "0.1.0"
