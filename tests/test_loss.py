"""Adaptive Focal Loss: a hand-computed value, its special cases and its running estimate."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="the loss needs torch (the train extra)")

from edge_ser_train.loss import AdaptiveFocalLoss, inverse_frequency_weights  # noqa: E402

from edge_ser.errors import TrainingError  # noqa: E402


def test_matches_hand_computed_value() -> None:
    # 3 classes, weights (1, 1, 2); easiness starts at 1/3, so gamma = 1 + (3 - 1) / 3 = 5/3.
    loss_fn = AdaptiveFocalLoss(3, [1.0, 1.0, 2.0], gamma_min=1.0, gamma_max=3.0, momentum=0.9)
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    # By hand: p1 = e / (e + 2) = 0.576117, p2 = 1 / (e + 2) = 0.211942
    #   term1 = 1 * (1 - p1)^(5/3) * -ln p1 = 0.131900
    #   term2 = 2 * (1 - p2)^(5/3) * -ln p2 = 2.086237
    #   loss  = (term1 + term2) / (1 + 2)   = 0.739379
    p1, p2, g = math.e / (math.e + 2), 1 / (math.e + 2), 5 / 3
    expected = ((1 - p1) ** g * -math.log(p1) + 2 * (1 - p2) ** g * -math.log(p2)) / 3
    assert expected == pytest.approx(0.7393791245, abs=1e-9)
    loss_fn.eval()  # no update of the running estimate
    assert float(loss_fn(logits, target)) == pytest.approx(expected, rel=1e-6)


def test_running_estimate_updates_only_present_classes_in_training() -> None:
    loss_fn = AdaptiveFocalLoss(3, gamma_min=1.0, gamma_max=3.0, momentum=0.9)
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    loss_fn.eval()
    loss_fn(logits, target)
    assert torch.allclose(loss_fn.easiness, torch.full((3,), 1 / 3))
    loss_fn.train()
    first = float(loss_fn(logits, target))
    # e_c <- 0.9 * 1/3 + 0.1 * mean p of class c; class 1 is absent and keeps 1/3.
    p1, p2 = math.e / (math.e + 2), 1 / (math.e + 2)
    expected = [0.9 / 3 + 0.1 * p1, 1 / 3, 0.9 / 3 + 0.1 * p2]
    assert loss_fn.easiness.tolist() == pytest.approx(expected, rel=1e-6)
    assert loss_fn.gammas().tolist() == pytest.approx([1 + 2 * e for e in expected], rel=1e-6)
    # The first batch used the gammas from before it (5/3), with unit weights.
    g = 5 / 3
    assert first == pytest.approx(
        ((1 - p1) ** g * -math.log(p1) + (1 - p2) ** g * -math.log(p2)) / 2, rel=1e-6
    )
    # The estimate is a buffer: it travels with the state dict (resumed training).
    clone = AdaptiveFocalLoss(3)
    clone.load_state_dict(loss_fn.state_dict())
    assert torch.equal(clone.easiness, loss_fn.easiness)


def test_zero_gamma_is_weighted_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 4, generator=gen)
    target = torch.randint(0, 4, (16,), generator=gen)
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0])
    loss_fn = AdaptiveFocalLoss(4, weights.tolist(), gamma_min=0.0, gamma_max=0.0)
    reference = torch.nn.functional.cross_entropy(logits, target, weight=weights)
    assert float(loss_fn(logits, target)) == pytest.approx(float(reference), rel=1e-5)


def test_fixed_gamma_is_the_focal_loss() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.5, 0.0], [0.0, 3.0]])
    target = torch.tensor([0, 1, 1])
    loss_fn = AdaptiveFocalLoss(2, gamma_min=2.0, gamma_max=2.0)
    p = torch.softmax(logits, dim=-1)[torch.arange(3), target]
    expected = float(((1 - p) ** 2 * -torch.log(p)).mean())
    assert float(loss_fn(logits, target)) == pytest.approx(expected, rel=1e-6)
    # easy examples count far less than under cross-entropy
    ce = float(torch.nn.functional.cross_entropy(logits, target))
    assert float(loss_fn(logits, target)) < ce


def test_gradient_stays_finite_for_confident_predictions() -> None:
    logits = torch.tensor([[60.0, -60.0], [-60.0, 60.0]], requires_grad=True)
    loss = AdaptiveFocalLoss(2, gamma_min=0.5, gamma_max=0.5)(logits, torch.tensor([0, 1]))
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)


def test_inverse_frequency_weights() -> None:
    w = inverse_frequency_weights([10, 30, 0, 60])  # n = 100, 3 classes present
    assert w.tolist() == pytest.approx([100 / 30, 100 / 90, 0.0, 100 / 180])
    assert inverse_frequency_weights([5, 5, 5, 5]).tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(TrainingError):
        inverse_frequency_weights([0, 0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 1},
        {"num_classes": 3, "gamma_min": 2.0, "gamma_max": 1.0},
        {"num_classes": 3, "momentum": 1.0},
        {"num_classes": 3, "class_weights": [1.0, 1.0]},
        {"num_classes": 2, "class_weights": [1.0, -1.0]},
    ],
)
def test_invalid_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(TrainingError):
        AdaptiveFocalLoss(**kwargs)  # type: ignore[arg-type]
