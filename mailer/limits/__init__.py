"""Every limit in one place, below the code that obeys them: what settings say, the
Redis state that enforces it, and nothing of sending, the web or the wiring.

Modules:

    parsing.py        `Rate`, `Quota` and trusted networks as settings spell them
                      (imports nothing of the project: `mailer.config` checks with it)
    lua.py            `LuaScript`: EVALSHA, loading a script Redis does not have yet
    buckets.py        send-rate buckets kept by GCRA: `RedisBuckets`, `MemoryBuckets`
    pacing.py         which buckets a message needs (relay, bulk lane, recipient
                      domain) and waiting for its slot: `Pacer`, `PacingPolicy`
    flood.py          per-form quotas in fixed windows: `FloodGate`, and the hashes
                      that keep addresses out of Redis
    repeat_window.py  one e-mail per share within a window, and `Idempotency-Key`:
                      `RepeatWindow`

Redis keys the package owns (each module's docstring says what they hold):

    mailer:rate:      buckets.py (relay:<id>, relay:<id>:bulk, domain:<domain>)
    mailer:flood:     flood.py (<form>:<scope>:<value>)
    mailer:share:once:, mailer:share:key:   repeat_window.py

Importing this package imports nothing: `mailer.config` reads `parsing` without
loading Redis scripts.
"""
