"""w2vMOS model runs: training, cross-validated evaluation and archive scoring on the gpu queue."""
