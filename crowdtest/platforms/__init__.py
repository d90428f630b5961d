"""Crowd platforms: Amazon Mechanical Turk, Prolific and direct links; payments and caps."""
