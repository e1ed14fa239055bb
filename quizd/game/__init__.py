"""The sans-IO game core: definitions, scoring, leaderboard and the quiz state machine.

Nothing in this package may import trio, trio_websocket, redis or prometheus_client:
every rule of the contract is a plain function of (state, event, now).
"""
