class CorpusError(Exception):
    """An action on the corpus that can't be done; the message says why."""
