// tokprobe._core: registers one binding area per register_*.cpp file; nothing else lives here.
#include <pybind11/pybind11.h>

#include "register.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
    m.doc() = "tokprobe native kernels over logits matrices (see tokprobe.core for the typed API)";
    tokprobe::register_runtime(m);
    tokprobe::register_row_stats(m);
    tokprobe::register_divergence(m);
    tokprobe::register_topk_tail(m);
    tokprobe::register_class_mass(m);
    tokprobe::register_topk(m);
    tokprobe::register_histogram(m);
    tokprobe::register_summary(m);
    tokprobe::register_floors(m);
}
