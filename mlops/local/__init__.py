"""Local mode: the whole MLOps loop offline, against a moto server on loopback."""
