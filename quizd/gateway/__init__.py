"""The player/host WebSocket gateway: handshake, limits, per-connection queues, fan-out."""
