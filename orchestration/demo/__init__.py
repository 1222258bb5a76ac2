"""The demo: a generator of landing files with known dirt and ground truth, and the
identity evaluation against it. Production runs never import this package."""
