"""A LangChain callback handler base for handlers that only want model and tool events."""

from __future__ import annotations

from langchain_core.callbacks import BaseCallbackHandler


class ModelAndToolEventsOnly(BaseCallbackHandler):
    """Skips the start and end of every graph node (chains), retrievers and custom events.

    A graph run reports each node as a chain; on an event loop LangChain hands each event of a sync handler
    to a thread, so a handler that ignores nothing pays two thread hand-offs per node."""

    @property
    def ignore_chain(self) -> bool:
        return True

    @property
    def ignore_retriever(self) -> bool:
        return True

    @property
    def ignore_custom_event(self) -> bool:
        return True
