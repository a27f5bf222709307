"""Numpy references for every op the engine has routines for.

Each family module defines Reference subclasses decorated with @reference;
importing this package registers them all in REFS (op -> Reference).
A routine whose op has no reference fails conformance/test_routines.py.
"""
from .base import REFS, Reference, reference  # noqa: F401
from . import copy_ops, elementwise  # noqa: F401  (registration side effects)
from . import movement, pool_resize  # noqa: F401,E402  (data movement, pooling, resize)
from . import reduce_norm  # noqa: F401,E402  (reductions, softmax, normalisations)
from . import linalg  # noqa: F401,E402  (Conv, ConvTranspose, Gemm, MatMul)
from . import layout  # noqa: F401,E402  (Reorder, the engine-internal layout adapt op)
from . import quant  # noqa: F401,E402  (QuantizeLinear, DequantizeLinear, integer MatMul/Conv)
from . import qelementwise  # noqa: F401,E402  (QLinearAdd)
from . import qpool  # noqa: F401,E402  (QLinearAveragePool)
from . import einsum_rnn  # noqa: F401,E402  (Einsum, RNN, GRU, LSTM)
from . import nn  # noqa: F401,E402  (Attention, RMSNormalization, losses, GridSample)
from . import bounded  # noqa: F401,E402  (the dynamic runner's NonZero, Compress, Unique, NonMaxSuppression)
from . import misc  # noqa: F401,E402  (CumProd, Bitwise*, BitCast, Shrink, Det, RotaryEmbedding, CenterCropPad, windows, AffineGrid, TensorScatter, Col2Im)
from . import extra_ops  # noqa: F401,E402  (TfIdfVectorizer, DeformConv, MaxUnpool, MelWeightMatrix)
from . import trees  # noqa: F401,E402  (ai.onnx.ml TreeEnsemble, TreeEnsembleRegressor)
