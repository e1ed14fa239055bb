"""The wire contract, sans-IO: parsing client frames and encoding server messages."""
