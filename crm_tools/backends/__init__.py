"""CRM stores behind one protocol."""

from crm_tools.backends.base import PLURALS, CRMBackend, ObjectName

__all__ = ["PLURALS", "CRMBackend", "ObjectName"]
