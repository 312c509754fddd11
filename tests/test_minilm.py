"""Tests of the pure-numpy all-MiniLM-L6-v2 (hwq.eval.minilm)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.eval.minilm import INSTALL_HINT, MiniLM, default_linear, find_model_dir, load_sentences

PARAPHRASES = [
    ("A man is playing a guitar on the street.", "Someone is strumming a guitar outside."),
    ("It will rain heavily tomorrow afternoon.", "Heavy rain is expected tomorrow after lunch."),
    ("Please close the door when you leave.", "Kindly shut the door on your way out."),
    ("I have lost my keys again.", "I can't find my keys anywhere."),
]
UNRELATED = [
    "The central bank raised interest rates by a quarter of a percentage point.",
    "Octopuses are remarkably good at solving puzzles.",
    "The compiler reported a type error on line 42.",
    "Medieval castles were built on hills to make them easier to defend.",
]


@pytest.fixture(scope="module")
def model(minilm_installed) -> MiniLM:
    pytest.importorskip("scipy")
    return MiniLM.load()


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return load_sentences()


def test_sentences_file() -> None:
    sents = load_sentences()
    assert len(sents) >= 220
    assert len(set(sents)) == len(sents)
    assert all(s and s == s.strip() for s in sents)


def test_linear_layers(model: MiniLM) -> None:
    layers = model.linear_layers
    assert len(layers) == 36
    assert model.linear_names == [layer.name for layer in layers]
    assert model.linear_names[0] == "encoder.layer.0.attention.self.query"
    assert model.linear_names[-1] == "encoder.layer.5.output.dense"
    shapes = {
        "attention.self.query": (384, 384),
        "attention.self.key": (384, 384),
        "attention.self.value": (384, 384),
        "attention.output.dense": (384, 384),
        "intermediate.dense": (1536, 384),
        "output.dense": (384, 1536),
    }
    for layer in layers:
        suffix = layer.name.split(".", 3)[3]
        assert layer.weight.shape == shapes[suffix]
        assert layer.bias.shape == (shapes[suffix][0],)
        assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
        assert not layer.weight.flags.writeable
    assert model.linear_layer("encoder.layer.2.intermediate.dense").out_features == 1536
    with pytest.raises(HwqError, match="no linear layer"):
        model.linear_layer("pooler.dense")


def test_embed_shapes_norms_determinism(model: MiniLM, sentences: list[str]) -> None:
    emb = model.embed(sentences)
    assert emb.shape == (len(sentences), 384)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(emb, model.embed(sentences))
    # Batching changes only float rounding (the per-sentence computation is independent).
    np.testing.assert_allclose(model.embed(sentences, batch_size=7), emb, atol=1e-5)
    assert model.embed([]).shape == (0, 384)
    # Pairwise similarities have a real spread.
    sim = emb @ emb.T
    off = sim[~np.eye(len(sentences), dtype=bool)]
    assert off.min() < 0.05 and off.max() > 0.9


def test_paraphrases_more_similar(model: MiniLM) -> None:
    a = model.embed([p[0] for p in PARAPHRASES])
    b = model.embed([p[1] for p in PARAPHRASES])
    u = model.embed(UNRELATED)
    para = np.sum(a * b, axis=1)
    for i in range(len(PARAPHRASES)):
        assert para[i] > 0.6
        assert para[i] > (a[i] @ u.T).max() + 0.3
        assert para[i] > (b[i] @ u.T).max() + 0.3


def test_truncation_and_input_checks(model: MiniLM) -> None:
    ids = model.tokenize(["hello " * 1000, ""])
    assert len(ids[0]) == 256 and ids[0][0] == 101 and ids[0][-1] == 102
    assert ids[1] == [101, 102]
    assert model.embed(["word " * 1000]).shape == (1, 384)
    with pytest.raises(HwqError, match="single string"):
        model.embed("just one string")  # type: ignore[arg-type]
    with pytest.raises(HwqError, match="batch_size"):
        model.embed(["x"], batch_size=0)
    with pytest.raises(HwqError, match="expected str"):
        model.embed(["x", 3])  # type: ignore[list-item]


def test_linear_hook(model: MiniLM, sentences: list[str]) -> None:
    sents = sentences[:40]
    ref = model.embed(sents, batch_size=16)
    tokens_per_batch = [sum(len(t) for t in model.tokenize(sents[i : i + 16])) for i in range(0, 40, 16)]
    calls: list[tuple[str, tuple[int, ...]]] = []

    def identity(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        calls.append((name, x.shape))
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == w.shape[1]
        return default_linear(name, x, w, b)

    same = model.embed(sents, batch_size=16, linear=identity)
    assert np.array_equal(same, ref)
    assert len(calls) == 36 * len(tokens_per_batch)
    for j, n_tokens in enumerate(tokens_per_batch):
        batch_calls = calls[36 * j : 36 * (j + 1)]
        assert [name for name, _ in batch_calls] == model.linear_names
        assert all(shape[0] == n_tokens for _, shape in batch_calls)  # non-padding tokens only

    rng = np.random.default_rng(0)

    def perturbed(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal(w.shape).astype(np.float32) * np.float32(0.05 * np.abs(w).mean())
        return x @ (w + noise).T + b

    noisy = model.embed(sents, batch_size=16, linear=perturbed)
    np.testing.assert_allclose(np.linalg.norm(noisy, axis=1), 1.0, atol=1e-5)
    cos = np.sum(noisy * ref, axis=1)
    assert not np.array_equal(noisy, ref)
    assert cos.min() < 0.99999 and cos.min() > 0.5

    # Only one layer perturbed: still changes the output.
    def one_layer(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = default_linear(name, x, w, b)
        return y * np.float32(1.1) if name == "encoder.layer.5.output.dense" else y

    assert not np.array_equal(model.embed(sents, linear=one_layer), model.embed(sents))

    def wrong_shape(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (x @ w.T + b)[:, :-1]

    with pytest.raises(HwqError, match="expected"):
        model.embed(sents[:2], linear=wrong_shape)

    def in_place(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        x *= 2.0
        return default_linear(name, x, w, b)

    with pytest.raises(ValueError, match="read-only"):
        model.embed(sents[:2], linear=in_place)


def test_missing_model_path(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "no_such_model")
    with pytest.raises(HwqError) as info:
        find_model_dir(missing)
    msg = str(info.value)
    assert "no_such_model" in msg and INSTALL_HINT in msg
    with pytest.raises(HwqError, match="no_such_model"):
        MiniLM.load(missing)
    # An existing folder without the files: names the missing files.
    with pytest.raises(HwqError) as info:
        find_model_dir(tmp_path)
    assert "model.safetensors" in str(info.value) and INSTALL_HINT in str(info.value)


def test_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import hwq.eval.minilm

    monkeypatch.setattr(hwq.eval.minilm, "_PACKAGE", "hwq_no_such_model_package")
    with pytest.raises(HwqError) as info:
        find_model_dir()
    assert "hwq_no_such_model_package" in str(info.value) and INSTALL_HINT in str(info.value)


@pytest.mark.slow
def test_matches_sentence_transformers(
    model: MiniLM, sentences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against sentence-transformers on torch CPU, loaded from the package's local folder, offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with warnings.catch_warnings():
        # Third-party import and load warnings are not ours to fix.
        warnings.simplefilter("ignore")
        # exc_type=ImportError: a half-installed reference stack skips too.
        pytest.importorskip("torch", exc_type=ImportError)
        st_mod = pytest.importorskip("sentence_transformers", exc_type=ImportError)
        st = st_mod.SentenceTransformer(str(model.model_dir), device="cpu")
        assert st.max_seq_length == model.max_seq_length
        ref = st.encode(sentences, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    ref = np.asarray(ref, dtype=np.float64)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    ours = model.embed(sentences).astype(np.float64)
    cos = np.sum(ref * ours, axis=1)
    print(f"min cosine vs sentence-transformers over {len(sentences)} sentences: {cos.min():.9f}")
    assert cos.min() >= 0.9999, [sentences[i] for i in np.argsort(cos)[:5]]
