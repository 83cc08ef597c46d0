"""Storage infrastructure shared by the engine and the servers (no agent logic)."""
