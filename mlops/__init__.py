"""The `mlops` command-line tool and the library code behind it (cloud operations and local mode)."""
