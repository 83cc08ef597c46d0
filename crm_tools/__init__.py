"""The CRM side of converso: record models, query grammar, stores and tools."""

from crm_tools.errors import CRMError, NotFoundError

__all__ = ["CRMError", "NotFoundError"]
