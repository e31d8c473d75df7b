"""The self-service portal for merchants, platforms and persons (mounted at /portal/)."""
