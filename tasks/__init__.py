"""Search spaces, benchmark importers, the local data cache and task definitions."""
