"""The baseline networks: output shapes, NISQA's layer sizes, padding that changes no
score, the parameter groups, and that a few steps on a tiny synthetic set lower the
loss."""

from __future__ import annotations

import pytest
import torch

from modeling.baselines.nets import NISQA, ConvMaxPool, FramewiseCNN

NETS: list[type[NISQA] | type[ConvMaxPool]] = [NISQA, ConvMaxPool]


def segments(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, 48, 15, generator=generator)


def test_the_framewise_cnn_turns_a_segment_into_384_features() -> None:
    cnn = FramewiseCNN().eval()
    assert cnn.fan_out == 64 * 6
    assert cnn(torch.randn(5, 48, 15)).shape == (5, 384)
    widths = [conv.out_channels for conv in cnn.convs]
    assert widths == [16, 32, 64, 64, 64, 64]
    assert cnn.convs[5].kernel_size == (3, 3)


@pytest.mark.parametrize("net", NETS)
def test_one_mos_per_clip_whatever_the_padding(net: type[NISQA] | type[ConvMaxPool]) -> None:
    torch.manual_seed(0)
    model = net().eval()
    x = segments(3, 9)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    with torch.no_grad():
        batch = model(x, mask)
        alone = model(x[1:2, :6], torch.ones(1, 6, dtype=torch.long))
        garbage = x.clone()
        garbage[1, 6:] = 1e3  # what sits in the padding is never seen
        again = model(garbage, mask)
    assert batch.shape == (3,)
    torch.testing.assert_close(batch[1], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batch, again)


@pytest.mark.parametrize("net", NETS)
def test_the_head_is_the_output_linear_layer(net: type[NISQA] | type[ConvMaxPool]) -> None:
    model = net()
    body, head = model.backbone_parameters(), model.head_parameters()
    assert len(head) == 2 and model.head.out_features == 1
    assert len(body) + len(head) == len(list(model.parameters()))


@pytest.mark.parametrize("net", NETS)
def test_a_few_steps_lower_the_loss(net: type[NISQA] | type[ConvMaxPool]) -> None:
    """Eight clips whose MOS follows their mean level: 30 Adam steps on the whole set."""
    torch.manual_seed(0)
    model = net()
    x = segments(8, 6, seed=1) + torch.linspace(-1, 1, 8)[:, None, None, None]
    mask = torch.ones(8, 6, dtype=torch.long)
    target = torch.linspace(1.5, 4.5, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(x, mask), target)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def _cnn_as_written_by_nisqa(cnn: FramewiseCNN, segments: torch.Tensor) -> torch.Tensor:
    """NISQA's order: convolution, batch norm, ReLU, then pooling, nothing in place."""
    x = segments[:, None]
    for i, (conv, norm) in enumerate(zip(cnn.convs, cnn.norms)):
        if i >= 2:
            x = cnn.dropout(x)
        x = torch.relu(norm(conv(x)))
        if i in (0, 1, 3):
            x = torch.nn.functional.adaptive_max_pool2d(x, cnn.pools[(0, 1, 3).index(i)])
    return x.flatten(1)


def _grad(parameter: torch.Tensor) -> torch.Tensor:
    assert parameter.grad is not None
    return parameter.grad.clone()


@pytest.mark.parametrize("train", [True, False])
def test_the_cnn_gives_nisqas_outputs_and_gradients(train: bool) -> None:
    torch.manual_seed(3)
    # In float64, so that the two summation orders agree to far below any real difference.
    cnn = FramewiseCNN().double().train(train)
    # Shifted so that many pooling windows hold only negative values after batch norm.
    x = segments(1, 40, seed=4)[0].double() - 0.5
    grads = []
    for forward in (cnn.forward, lambda s: _cnn_as_written_by_nisqa(cnn, s)):
        torch.manual_seed(5)  # the same dropout masks
        cnn.zero_grad()
        out = forward(x)
        (out * torch.linspace(-1, 1, out.shape[1])).sum().backward()  # type: ignore[no-untyped-call]
        grads.append((out.detach(), [_grad(p) for p in cnn.parameters()]))
    (ours, ours_grads), (theirs, their_grads) = grads
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)
    for a, b in zip(ours_grads, their_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
