"""Local AWS: a moto server on loopback, its state files, and what the stacks would provision."""
