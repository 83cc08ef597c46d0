"""Generic evaluation machinery: episodes, simulated users, the runner and the report. Domains plug in a
suite through the ``converso.evaluations`` entry-point group."""
