"""The paper's baselines (Table 1): NISQA, trained with its default L2 loss and with L1,
and ConvMaxPool, on NISQA's log-mel segments (`modeling.mel`). Plain torch, no Django;
they train, cross-validate and score through the same code as w2vMOS
(`modeling.w2vmos.train`, `crossval`, `score`), chosen by `ModelConfig.name`.

- `nets`  the networks (framewise CNN, self-attention, attention pooling, max-pooling)
- `store` the file-level mel front end, build, save and load
"""
