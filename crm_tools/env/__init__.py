"""The CRM agent environment protocol (CRM.md): action vocabulary, frames, keys, sessions."""
