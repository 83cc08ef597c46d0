"""The CRM's evaluation for ``converso eval``: agents (converso, flat, reference, silent), the flat agent's
tools, and the suite object registered in the ``converso.evaluations`` entry-point group."""
