// Row statistics.
#include "buffers.hpp"
#include "kernels/row_stats.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_row_stats(py::module_& m) {
    m.def(
        "row_stats",
        [](py::object logits, py::object targets) {
            bind::View x = bind::view(logits, "logits", bind::Kind::f32, 2);
            bind::View t;
            const int32_t* tp = bind::targets_arg(targets, t, x.rows);
            auto lse = bind::new_array<double>(x.rows);
            auto ent = bind::new_array<double>(x.rows);
            auto am = bind::new_array<int32_t>(x.rows);
            auto mlp = bind::new_array<double>(x.rows);
            auto tlp = bind::new_array<double>(x.rows);
            RowStatsOut out{lse.mutable_data(), ent.mutable_data(), am.mutable_data(), mlp.mutable_data(),
                            tlp.mutable_data()};
            {
                py::gil_scoped_release nogil;
                row_stats(x.data<float>(), x.rows, x.cols, tp, out);
            }
            py::dict d;
            d["logsumexp"] = lse;
            d["entropy"] = ent;
            d["argmax"] = am;
            d["max_logprob"] = mlp;
            d["target_logprob"] = tlp;
            return d;
        },
        py::arg("logits"), py::arg("targets") = py::none());
}

}  // namespace tokprobe
