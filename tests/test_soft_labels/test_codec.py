"""SoftLabelCodec: round trips, sizes, no-label rows."""
import numpy as np
import pytest
import torch

from d3l.soft_labels import SoftLabelCodec


def dirichlet(num_rows, num_classes, alpha, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.dirichlet([alpha] * num_classes, size=num_rows)).float()


def mean_kl(p, q):
    p = p.double()
    q = q.double()
    terms = torch.where(p > 0, p * (p.clamp_min(1e-300).log() - q.clamp_min(1e-300).log()),
                        torch.zeros_like(p))
    return terms.sum(1).mean().item()


def exact_topk_kl(p, k):
    """KL(p || q) for q = exact top-k + uniform rest, by the formula
    sum_{c not in top-k} p_c log(p_c (C - k) / r), r = mass outside the top-k."""
    p = p.double()
    num_classes = p.shape[1]
    top = p.topk(k, 1).indices
    rest = p.clone()
    rest.scatter_(1, top, 0.0)
    r = rest.sum(1, keepdim=True)
    terms = torch.where(rest > 0, rest * (rest.clamp_min(1e-300) * (num_classes - k)
                                          / r.clamp_min(1e-300)).log(), torch.zeros_like(rest))
    return terms.sum(1).mean().item(), (r.squeeze(1) * np.log(num_classes - k)).mean().item()


@pytest.mark.parametrize('prob_dtype', ['float16', 'uint8'])
def test_dirichlet_round_trip_150_classes(prob_dtype):
    # peaked distributions, like a teacher's (alpha < 1)
    probs = dirichlet(2000, 150, alpha=0.05)
    codec = SoftLabelCodec(topk=3, prob_dtype=prob_dtype)
    encoded = codec.encode(probs)
    assert encoded['indices'].dtype == torch.uint8
    assert encoded['probs'].dtype == (torch.float16 if prob_dtype == 'float16' else torch.uint8)
    decoded = codec.decode(encoded, 150)
    assert decoded.shape == (2000, 150) and decoded.dtype == torch.float32
    torch.testing.assert_close(decoded.sum(1), torch.ones(2000), atol=1e-5, rtol=0)
    assert bool((decoded >= 0).all())
    # top-1 always preserved
    assert torch.equal(decoded.argmax(1), probs.argmax(1))
    # the top-3 values come back up to storage precision
    top_vals, top_idx = probs.topk(3, 1)
    tol = 1e-3 if prob_dtype == 'float16' else 1 / 255 + 1e-6
    torch.testing.assert_close(decoded.gather(1, top_idx), top_vals, atol=tol, rtol=0)
    kl = mean_kl(probs, decoded)
    print(f'\nmean KL(p || decode(encode(p))) Dirichlet(0.05), 150 classes, top-3 '
          f'{prob_dtype}: {kl:.4f} nats')
    exact, bound = exact_topk_kl(probs, 3)
    print(f'exact top-3 KL (fp32 storage) {exact:.4f}, bound mean(r log(C - k)) {bound:.4f}')
    # storage rounding adds little to the information lost by keeping 3 classes
    assert abs(kl - exact) < (0.01 if prob_dtype == 'float16' else 0.05)
    assert kl <= bound + 0.02


def test_kl_reference_formula_and_topk_monotone():
    probs = dirichlet(500, 150, alpha=0.2, seed=1)
    kls = []
    for k in (1, 3, 10, 150):
        codec = SoftLabelCodec(topk=k)
        kls.append(mean_kl(probs, codec.decode(codec.encode(probs), 150)))
    assert kls[0] > kls[1] > kls[2] > kls[3]
    assert kls[3] < 1e-4  # all classes stored: only fp16 rounding (and underflow) remains
    # independent reference for top-1: KL = sum_c p_c log(p_c / q_c) with
    # q = [p1 at argmax, (1 - p1) / (C - 1) elsewhere]
    p = probs.double()
    p1, arg = p.max(1)
    q = ((1 - p1) / 149)[:, None].expand_as(p).clone()
    q.scatter_(1, arg[:, None], p1[:, None])
    assert abs(kls[0] - mean_kl(p, q)) < 2e-3


def test_sizes_and_index_dtypes():
    assert SoftLabelCodec(3, 'float16').bytes_per_row(150) == 9
    assert SoftLabelCodec(3, 'uint8').bytes_per_row(150) == 6
    assert SoftLabelCodec(3, 'float16').bytes_per_row(1000) == 12
    probs = dirichlet(10, 300, alpha=0.1)
    encoded = SoftLabelCodec(3).encode(probs)
    assert encoded['indices'].dtype == torch.uint16
    assert torch.equal(encoded['indices'].long(), probs.topk(3, 1).indices)
    decoded = SoftLabelCodec.decode(encoded, 300)
    assert torch.equal(decoded.argmax(1), probs.argmax(1))


def test_no_label_rows_and_one_hot():
    probs = torch.zeros(4, 20)
    probs[0, 7] = 1.0
    probs[2, 3] = 0.9
    probs[2, 5] = 0.1
    for prob_dtype in ('float16', 'uint8'):
        codec = SoftLabelCodec(2, prob_dtype)
        encoded = codec.encode(probs)
        decoded = codec.decode(encoded, 20)
        assert torch.equal(decoded[1], torch.zeros(20)) and torch.equal(decoded[3], torch.zeros(20))
        assert decoded[0, 7] == 1.0 and decoded[0].sum() == 1.0
        assert abs(decoded[2, 3].item() - 0.9) < 3e-3
        assert torch.equal(codec.top1(encoded), torch.tensor([7, 255, 3, 255]))


@pytest.mark.parametrize('prob_dtype', ['float16', 'uint8'])
def test_confident_rows_keep_mass_for_the_other_classes(prob_dtype):
    # a confident teacher: top-1 0.99995 would round to 1 (fp16) / 255 (uint8)
    # and leave the other classes probability 0, an infinite KL
    probs = torch.full((2, 150), 0.00005 / 147)
    probs[:, 0], probs[:, 1], probs[:, 2] = 0.99995 - 0.00005, 0.00004, 0.00001
    codec = SoftLabelCodec(3, prob_dtype)
    decoded = codec.decode(codec.encode(probs), 150)
    assert bool((decoded[:, 3:] > 0).all())
    assert mean_kl(probs, decoded) < 0.01
    assert bool((codec.stored_probs(codec.encode(probs)) <= probs[:, :3] + 1e-12).all())


def test_numpy_input_and_low_probability_quantisation():
    # a near-uniform row: top-1 ~ 1/600 rounds to 0 in uint8 but must stay labelled
    probs = torch.full((3, 600), 1 / 600)
    codec = SoftLabelCodec(3, 'uint8')
    encoded = codec.encode(probs)
    assert bool((encoded['probs'][:, 0] >= 1).all())
    decoded = codec.decode({k: v.numpy() for k, v in encoded.items()}, 600)
    torch.testing.assert_close(decoded.sum(1), torch.ones(3))


def test_bad_input():
    with pytest.raises(ValueError, match='topk'):
        SoftLabelCodec(0)
    with pytest.raises(ValueError, match='prob_dtype'):
        SoftLabelCodec(3, 'int4')
    with pytest.raises(ValueError, match='out of range'):
        SoftLabelCodec.decode({'indices': torch.tensor([[5]]), 'probs': torch.tensor([[1.0]])}, 5)
