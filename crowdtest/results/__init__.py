"""Screening verdicts, MOS tables, Vinylset exports and the experimenter's dashboard."""
