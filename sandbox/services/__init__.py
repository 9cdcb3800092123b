"""Runtime extensions of moto, one module per AWS service."""
