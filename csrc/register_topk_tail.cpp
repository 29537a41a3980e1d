// Divergence against a top-K reference (cached ids + log-probs) with lower and upper KL bounds.
#include "buffers.hpp"
#include "kernels/topk_tail.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {

void register_topk_tail(py::module_& m) {
    m.def(
        "topk_tail_divergence",
        [](py::object ref_ids, py::object ref_logprobs, py::object var, py::object targets) {
            bind::View ids = bind::view(ref_ids, "ref_ids", bind::Kind::i32, 2);
            bind::View lp = bind::view(ref_logprobs, "ref_logprobs", bind::Kind::f32, 2);
            bind::View q = bind::view(var, "var_logits", bind::Kind::f32, 2);
            if (ids.rows != lp.rows || ids.cols != lp.cols)
                throw std::invalid_argument("ref_ids and ref_logprobs must have the same shape");
            bind::same_rows(ids, "ref_ids", q, "var_logits");
            bind::View t;
            const int32_t* tp = bind::targets_arg(targets, t, q.rows);
            const size_t n = q.rows;
            const char* names[] = {"kl_lower", "kl_upper", "tail_mass_ref", "tail_mass_var", "target_logprob_var",
                                   "entropy_var"};
            py::dict d;
            double* f[6];
            for (int i = 0; i < 6; ++i) {
                auto a = bind::new_array<double>(n);
                f[i] = a.mutable_data();
                d[names[i]] = a;
            }
            auto am = bind::new_array<int32_t>(n);
            d["argmax_var"] = am;
            TopKTailOut out{f[0], f[1], f[2], f[3], f[4], am.mutable_data(), f[5]};
            {
                py::gil_scoped_release nogil;
                topk_tail_divergence(ids.data<int32_t>(), lp.data<float>(), ids.cols, q.data<float>(), n, q.cols, tp,
                                     out);
            }
            return d;
        },
        py::arg("ref_ids"), py::arg("ref_logprobs"), py::arg("var_logits"), py::arg("targets") = py::none());
}

}  // namespace tokprobe
