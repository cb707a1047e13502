"""What is deployed and watched, as plain data from the config: rendered by stacks/ and by mlops/local/."""
