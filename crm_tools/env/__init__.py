"""The CRM agent environment protocol (docs/env-protocol.md): action vocabulary, frames, keys, sessions."""
