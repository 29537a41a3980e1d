// tokprobe._core: registers one binding area per register_*.cpp file; nothing else lives here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
    m.doc() = "tokprobe native kernels over logits matrices (see tokprobe.core for the typed API)";
}
