"""Entropy minimisation and mean-teacher consistency losses."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy

from d3l.models.losses import ConsistencyLoss, EntropyLoss, entropy, entropy_from_logits


@pytest.mark.parametrize('num_classes', [2, 5, 20])
def test_entropy_is_zero_for_one_hot_and_log_c_for_uniform(num_classes):
    one_hot = torch.eye(num_classes)
    assert torch.equal(entropy(one_hot), torch.zeros(num_classes))  # exactly, no NaN
    uniform = torch.full((3, num_classes), 1.0 / num_classes)
    assert torch.allclose(entropy(uniform), torch.full((3,), math.log(num_classes)))

    loss = EntropyLoss(loss_weight=1.0)
    assert loss(torch.zeros(7, num_classes)).item() == pytest.approx(math.log(num_classes))
    # a one-hot prediction from logits: vanishing entropy, finite gradient
    logits = (torch.eye(num_classes) * 200.0).requires_grad_()
    value = loss(logits)
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(logits.grad).all()


def test_entropy_matches_scipy_and_weight_and_mask():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 6, generator=generator) * 3
    probs = logits.softmax(1).numpy().astype(np.float64)
    reference = scipy_entropy(probs, axis=1)  # natural log
    assert np.allclose(entropy_from_logits(logits).numpy(), reference, atol=1e-5)

    mask = torch.arange(50) % 3 == 0
    loss = EntropyLoss(loss_weight=0.5)(logits, mask)
    assert loss.item() == pytest.approx(0.5 * reference[mask.numpy()].mean(), rel=1e-5)

    # nothing selected: a zero that still backpropagates (no NaN from an empty mean)
    logits.requires_grad_()
    empty = EntropyLoss()(logits, torch.zeros(50, dtype=torch.bool))
    empty.backward()
    assert empty.item() == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))


def test_entropy_gradient_sharpens_predictions():
    logits = torch.tensor([[1.0, 0.5, 0.0]], requires_grad=True)
    EntropyLoss(1.0)(logits).backward()
    step = logits.detach() - 0.5 * logits.grad
    assert entropy_from_logits(step) < entropy_from_logits(logits.detach())


def test_entropy_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'\(N, C\)'):
        EntropyLoss()(torch.zeros(4))
    with pytest.raises(ValueError, match='mask'):
        EntropyLoss()(torch.zeros(4, 3), torch.ones(5, dtype=torch.bool))


def test_consistency_is_softmax_mse_and_only_the_student_learns():
    generator = torch.Generator().manual_seed(1)
    student = torch.randn(30, 4, generator=generator, requires_grad=True)
    teacher = torch.randn(30, 4, generator=generator, requires_grad=True)
    loss = ConsistencyLoss(loss_weight=10.0)(student, teacher)
    p = student.detach().softmax(1).numpy()
    q = teacher.detach().softmax(1).numpy()
    # Tarvainen & Valpola: sum of squared differences / C, averaged over rows
    reference = 10.0 * ((p - q) ** 2).sum() / 4 / 30
    assert loss.item() == pytest.approx(reference, rel=1e-5)
    loss.backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None

    same = ConsistencyLoss()(student.detach(), student.detach())
    assert same.item() == 0.0
    mask = torch.zeros(30, dtype=torch.bool)
    mask[:10] = True
    masked = ConsistencyLoss(1.0)(student.detach(), teacher.detach(), mask)
    assert masked.item() == pytest.approx(((p[:10] - q[:10]) ** 2).mean(), rel=1e-5)
    with pytest.raises(ValueError, match='same'):
        ConsistencyLoss()(student, teacher[:5])
