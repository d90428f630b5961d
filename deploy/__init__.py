"""Deployment helpers: the nginx configuration and a way to run it beside the app."""
