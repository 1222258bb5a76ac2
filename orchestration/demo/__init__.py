"""The demo: a generator of landing files with known dirt and ground truth. Production runs
never import this package."""
