"""Plain-Python core of crowdtest: audio preparation, features, clustering, statistics,
screening, metrics and the w2vMOS models. Never imports Django: the web side calls it
with files and arrays."""
