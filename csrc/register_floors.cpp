// The floors benchmarks/bench_core.py reads the divergence against.
#include "buffers.hpp"
#include "kernels/floors.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_floors(py::module_& m) {
    m.def(
        "read_floor",
        [](py::object a, py::object b) {
            bind::View x = bind::view(a, "a", bind::Kind::f32, 2);
            bind::View y = bind::view(b, "b", bind::Kind::f32, 2);
            if (x.rows != y.rows || x.cols != y.cols) throw std::invalid_argument("a and b must have the same shape");
            py::gil_scoped_release nogil;
            return read_floor(x.data<float>(), y.data<float>(), x.rows, x.cols);
        },
        py::arg("a"), py::arg("b"), "Sum of both matrices on the thread pool: a pass that only reads memory.");
    m.def(
        "exp_floor",
        [](py::object a, py::object b) {
            bind::View x = bind::view(a, "a", bind::Kind::f32, 2);
            bind::View y = bind::view(b, "b", bind::Kind::f32, 2);
            if (x.rows != y.rows || x.cols != y.cols) throw std::invalid_argument("a and b must have the same shape");
            py::gil_scoped_release nogil;
            return exp_floor(x.data<float>(), y.data<float>(), x.rows, x.cols);
        },
        py::arg("a"), py::arg("b"),
        "Sum of e^a, e^b, e^-a, e^-b (clamped to [-80, 80]) on the thread pool: the four float32 exps per "
        "token pair an exact divergence needs, and nothing else.");
}

}  // namespace tokprobe
