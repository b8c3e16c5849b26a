"""Thin channel adapters (console, Slack, Teams) and the command line."""
