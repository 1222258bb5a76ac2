"""Producing the emails: who may be mailed, the day's plan behind the guards and caps, the
exactly-once export, previews, SMTP delivery and journeys. Rendering itself (templates,
messages, export files and their layout) is the Dagster-free `email_render` package."""
