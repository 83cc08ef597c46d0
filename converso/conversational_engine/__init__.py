"""The original converso's import path, kept as a thin alias: ``converso.conversational_engine.form_agent``
is :mod:`converso.form_agent`. See docs/migration.md."""
