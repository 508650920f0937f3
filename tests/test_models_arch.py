"""Models: output shapes, encoder transfer, the MAE decoder and bad input."""
import pytest
import torch

from mi_ecg_nb.config import MiEcgError, seed_everything
from mi_ecg_nb.models import (MAEDecoder, build_model, classification_loss, load_encoder, model_from_arch,
                              pos_weight_from_targets)

torch.set_num_threads(1)
SMALL = dict(gru=dict(hidden=16, stem_channels=16, head_hidden=32),
             transformer=dict(d_model=32, n_heads=2, layers=1, ff=32, head_hidden=32))


@pytest.mark.parametrize('name', ['gru', 'transformer'])
@pytest.mark.parametrize('n_out', [28, 1])
def test_output_shapes(name, n_out):
    m = build_model(name, n_out, **SMALL[name]).eval()
    x, meta = torch.randn(3, 12, 1000), torch.rand(3, 4)
    assert m(x, meta).shape == (3, n_out)
    h = m.encoder(x)
    assert h.shape == (3, 1000 // m.encoder.stride, m.encoder.out_dim)
    assert MAEDecoder.for_model(m)(h, T=1000).shape == x.shape


def test_plain_gru_has_no_stem():
    m = build_model('gru', 1, stem_stride=1, hidden=8)
    assert m.encoder(torch.randn(2, 12, 30)).shape == (2, 30, 16)
    assert m.encoder.gru.input_size == 12


def test_rebuild_from_arch_gives_same_shapes():
    m = build_model('transformer', 5, **SMALL['transformer'])
    m2 = model_from_arch(m.arch)
    assert {k: v.shape for k, v in m.state_dict().items()} == {k: v.shape for k, v in m2.state_dict().items()}


@pytest.mark.parametrize('bad, match', [
    (lambda: build_model('lstm', 1), 'unknown model'),
    (lambda: build_model('gru', 1, hidden_size=3), 'hidden_size'),
    (lambda: build_model('gru', 1, stem_stride=3), 'stem stride'),
    (lambda: build_model('transformer', 1, d_model=30, n_heads=4), 'divisible'),
    (lambda: build_model('gru', 0), 'n_out'),
    (lambda: build_model('gru', 2, **SMALL['gru'])(torch.randn(2, 1000, 12), torch.rand(2, 4)), r'\(B, 12, T\)'),
    (lambda: build_model('gru', 2, **SMALL['gru'])(torch.randn(2, 12, 100), torch.rand(2, 3)), r'\(B, 4\)'),
    (lambda: classification_loss(torch.zeros(2, 3), torch.zeros(2, 2)), 'differ in shape'),
    (lambda: pos_weight_from_targets(torch.zeros(0, 2)), 'targets'),
])
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(MiEcgError, match=match): bad()


def test_load_encoder_copies_encoder_only():
    seed_everything(0, 'a'); src = build_model('gru', 28, **SMALL['gru'])
    seed_everything(1, 'b'); dst = build_model('gru', 1, **SMALL['gru'])
    head = {k: v.clone() for k, v in dst.head.state_dict().items()}
    load_encoder(dst, {'model': src.state_dict(), 'arch': src.arch})
    for k, v in src.encoder.state_dict().items(): assert torch.equal(dst.encoder.state_dict()[k], v)
    for k, v in head.items(): assert torch.equal(dst.head.state_dict()[k], v)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    dst = build_model('gru', 1, **SMALL['gru'])
    other = build_model('transformer', 1, **SMALL['transformer'])
    torch.save({'model': other.state_dict(), 'arch': other.arch}, tmp_path / 'ck.pt')
    with pytest.raises(MiEcgError, match='another architecture'): load_encoder(dst, tmp_path / 'ck.pt')
    with pytest.raises(MiEcgError, match='does not fit'): load_encoder(dst, other.state_dict())     # no arch: by keys
    with pytest.raises(MiEcgError, match='stem_stride'):
        load_encoder(dst, build_model('gru', 1, **{**SMALL['gru'], 'stem_stride': 4}))
    # a different head is fine: only the encoder must match
    load_encoder(dst, build_model('gru', 7, **{**SMALL['gru'], 'head_hidden': 8}))
