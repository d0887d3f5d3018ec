"""SIP security: see Asterisk's security events, block offending sources with a res_pjsip ACL.

- `events`: an AMI security event -> a `SecurityEvent` (bounded kind/service, source address).
- `policy`: the pure ban decision (sliding window per source, bans with expiry, bounded).
- `offenders`: the bounded table of top offending sources for /status.
- `store`: bans persisted across restarts (atomic write, bounded, expired ones dropped).
- `acl`: the rendered `type=acl` section that makes Asterisk refuse banned sources.
- `metrics`: the exported counters and gauges.
- `guard`: the component that wires the above to AMI events and to the config applier.
"""
