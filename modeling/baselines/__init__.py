"""The paper's baselines (Table 1): NISQA, trained with its default L2 loss and with L1,
and ConvMaxPool, plain or with its CNN pre-trained as an autoencoder, a degradation
classifier or by DCEC (fine-tuned single-task or multi-task), on NISQA's log-mel
segments (`modeling.mel`). Plain torch, no Django; they train, cross-validate and score
through the same code as w2vMOS (`modeling.w2vmos.train`, `crossval`, `score`), chosen
by `ModelConfig.name`.

- `nets`     the networks (framewise CNN, self-attention, attention pooling, max-pooling)
- `pretext`  the pre-training networks (autoencoder, DCEC clustering, degradation
             classifier) and the multi-task ConvMaxPool
- `pretrain` the three pre-trainings of the CNN, resumable, each leaving a product
- `product`  a pre-training's product folder, read and checked without torch
- `store`    the file-level mel front end, build (from a product), save and load
"""
