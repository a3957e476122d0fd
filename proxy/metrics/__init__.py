"""Metrics: per-session observation (no prometheus) and the collectors (prometheus only here).

- `observe`: the per-session observer fed by the relay; `audio_size`: audio sizes from base64
  without decoding; `labels`: bounded label values; `collectors`: the `inworld_proxy_*`
  metrics on an injected registry; `routes`: per-route/variant metrics.
"""
