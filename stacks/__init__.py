"""CDK stacks: one file per stack; they only wire constructs together."""
