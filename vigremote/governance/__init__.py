"""Information governance: erasure, access requests (export), retention and legal holds."""
