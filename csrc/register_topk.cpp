// Top-k ids and log-probs per row.
#include "buffers.hpp"
#include "kernels/topk.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_topk(py::module_& m) {
    m.def(
        "topk",
        [](py::object logits, long long k) {
            bind::View x = bind::view(logits, "logits", bind::Kind::f32, 2);
            if (k < 0 || (unsigned long long)k > x.cols)
                throw std::invalid_argument("k must be in [0, vocab=" + std::to_string(x.cols) + "], got " +
                                            std::to_string(k));
            auto ids = bind::new_array<int32_t>(x.rows, (size_t)k);
            auto lp = bind::new_array<double>(x.rows, (size_t)k);
            {
                py::gil_scoped_release nogil;
                topk(x.data<float>(), x.rows, x.cols, (size_t)k, ids.mutable_data(), lp.mutable_data());
            }
            return py::make_tuple(ids, lp);
        },
        py::arg("logits"), py::arg("k"));
}

}  // namespace tokprobe
