// The floors benchmarks/bench_core.py reads the divergence against.
#include "buffers.hpp"
#include "kernels/floors.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {
namespace {

using Floor = double (*)(const float*, const float*, size_t, size_t);

// Each floor takes two float32 matrices of one shape, without copying, and runs without the GIL.
void def_floor(py::module_& m, const char* name, Floor floor, const char* doc) {
    m.def(
        name,
        [floor](py::object a, py::object b) {
            bind::View x = bind::view(a, "a", bind::Kind::f32, 2);
            bind::View y = bind::view(b, "b", bind::Kind::f32, 2);
            if (x.rows != y.rows || x.cols != y.cols) throw std::invalid_argument("a and b must have the same shape");
            py::gil_scoped_release nogil;
            return floor(x.data<float>(), y.data<float>(), x.rows, x.cols);
        },
        py::arg("a"), py::arg("b"), doc);
}

}  // namespace

void register_floors(py::module_& m) {
    def_floor(m, "read_floor", read_floor, "Sum of both matrices on the thread pool: a pass that only reads memory.");
    def_floor(m, "exp_floor", exp_floor,
              "Sum of e^a, e^b, e^-a, e^-b (clamped to [-80, 80]) on the thread pool: the four float32 exps per "
              "token pair an exact divergence needs, and nothing else.");
}

}  // namespace tokprobe
