"""One session: the only code holding two sockets (no aiohttp.web).

- `relay`: both links, the core, the limits; `watchdog`: start deadline, idle timeout,
  maximum duration; `route`: the variant and fallback dial of a routed session.
"""
