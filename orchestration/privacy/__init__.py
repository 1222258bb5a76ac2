"""Privacy: identifiers and their hashes, suppression, erasure, access and retention."""
