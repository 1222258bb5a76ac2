"""Measuring what the mail did: the campaign report."""
