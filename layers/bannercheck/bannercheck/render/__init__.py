"""Renderers: a Report to text for a person (terminal) or a message (Slack)."""
