"""IAM personas, the permission boundary, policy documents and the compliance checks."""
