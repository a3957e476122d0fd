"""The providers' addresses and handshakes: the only code that knows them.

- `inworld`: Inworld's realtime URL, headers and dial; `openai`: OpenAI's (pass-through routes).
"""
