// Streaming moments (count, mean, M2, min, max) of batches, and their exact merge.
#include "buffers.hpp"
#include "kernels/summary.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {
namespace {

py::tuple to_tuple(const Moments& m) { return py::make_tuple(m.count, m.nan_count, m.mean, m.m2, m.min, m.max); }

Moments from_tuple(const py::tuple& t) {
    if (t.size() != 6) throw std::invalid_argument("moments must be a 6-tuple (count, nan_count, mean, m2, min, max)");
    Moments m;
    m.count = t[0].cast<int64_t>();
    m.nan_count = t[1].cast<int64_t>();
    m.mean = t[2].cast<double>();
    m.m2 = t[3].cast<double>();
    m.min = t[4].cast<double>();
    m.max = t[5].cast<double>();
    return m;
}

}  // namespace

void register_summary(py::module_& m) {
    m.def(
        "moments",
        [](py::object values) {
            bind::View v = bind::view(values, "values", bind::Kind::f64, 1);
            Moments r;
            {
                py::gil_scoped_release nogil;
                r = moments(v.data<double>(), v.rows);
            }
            return to_tuple(r);
        },
        py::arg("values"), "(count, nan_count, mean, m2, min, max) of a float64 batch; NaN values are skipped.");
    m.def(
        "merge_moments", [](py::tuple a, py::tuple b) { return to_tuple(merge(from_tuple(a), from_tuple(b))); },
        py::arg("a"), py::arg("b"));
}

}  // namespace tokprobe
