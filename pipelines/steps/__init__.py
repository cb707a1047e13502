"""Processing step scripts; they run in the training image, in local mode and in tests."""
