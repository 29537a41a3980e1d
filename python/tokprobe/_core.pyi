# Stubs of the compiled extension tokprobe._core (csrc/register_*.cpp); tests/test_core_stubs.py checks
# that names, parameters, defaults and return kinds match the built module.
# Array arguments take any C-contiguous buffer of the dtype named in the comment (no copy is made);
# the bindings check dtype, ndim and shape at run time. tokprobe.core is the typed face to call.

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

_Array: TypeAlias = npt.NDArray[Any] | Buffer
# (count, nan_count, mean, m2, min, max)
_Moments: TypeAlias = tuple[int, int, float, float, float, float]

# runtime
def set_threads(n: int | None = None) -> None: ...
def get_threads() -> int: ...
def available_cores() -> int: ...
def simd_level() -> str: ...
def _set_simd_level(name: str) -> str: ...

# kernels over float32 [rows, vocab] logits; optional int32 [rows] targets
def row_stats(logits: _Array, targets: _Array | None = None) -> dict[str, npt.NDArray[Any]]: ...
def divergence(
    ref_logits: _Array, var_logits: _Array, targets: _Array | None = None
) -> dict[str, npt.NDArray[Any]]: ...
def divergence_from_logprobs16(
    ref_logprobs: _Array, var_logits: _Array, targets: _Array | None = None
) -> dict[str, npt.NDArray[Any]]: ...  # ref_logprobs: float16 [rows, vocab]
def topk_tail_divergence(
    ref_ids: _Array, ref_logprobs: _Array, var_logits: _Array, targets: _Array | None = None
) -> dict[str, npt.NDArray[Any]]: ...  # ref_ids: int32 [rows, K]; ref_logprobs: float32 [rows, K]
def class_mass(logits: _Array, class_map: _Array, n_classes: int) -> npt.NDArray[np.float64]: ...
def topk(logits: _Array, k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]: ...

# accumulators: ids int32 or int64 [n]; counts, class_counts writable int64; class_map int32 [n_vocab]
def histogram_add(
    ids: _Array, counts: _Array, class_map: _Array | None = None, class_counts: _Array | None = None
) -> None: ...
def moments(values: _Array) -> _Moments: ...  # values: float64 [n]
def merge_moments(a: _Moments, b: _Moments) -> _Moments: ...

# benchmark floors: two float32 matrices of one shape
def read_floor(a: _Array, b: _Array) -> float: ...
def exp_floor(a: _Array, b: _Array) -> float: ...
