"""converso: a conversational form engine on LangGraph."""

__version__ = "0.1.0"
