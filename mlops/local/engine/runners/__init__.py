"""One runner per pipeline step type; each module registers its type (see ../registry.py)."""
