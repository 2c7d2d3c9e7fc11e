"""The service: it owns time and state, and calls the engines.

``mechanism.Mechanism`` wires the parts and runs their life cycle (restore, ingest, the
detection cycle, anchors, retention). The parts, one concept each:

- ``picture`` (the live tracks in columns), ``detection`` (a snapshot to findings, pure),
  ``alerting`` (alert life cycles and the Alert codec), ``sharing`` (need-to-know);
- ``events`` (per-party durable streams and picture frames, ``frames`` their encoding);
- ``hotline`` (the message state machine) and ``hotline_flow`` (its traffic through the
  record, the store and the streams);
- ``record`` (the service's side of the ledger), ``auth``, ``config``, ``clock``, ``keys``;
- the after-action review: ``recording_file`` (the recording written and read),
  ``replay_checks`` (held to the signed record), ``replay`` (what each party was shown).
"""
