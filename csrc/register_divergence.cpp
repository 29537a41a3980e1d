// Divergence between a reference and a variant matrix (float32 logits, or float16 reference log-probs).
#include "buffers.hpp"
#include "kernels/divergence.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace tokprobe {
namespace {

py::dict run(py::object ref, py::object var, py::object targets, bool ref16) {
    bind::View p = bind::view(ref, ref16 ? "ref_logprobs" : "ref_logits", ref16 ? bind::Kind::f16 : bind::Kind::f32, 2);
    bind::View q = bind::view(var, "var_logits", bind::Kind::f32, 2);
    if (p.rows != q.rows || p.cols != q.cols)
        throw std::invalid_argument("reference shape (" + std::to_string(p.rows) + ", " + std::to_string(p.cols) +
                                    ") differs from variant shape (" + std::to_string(q.rows) + ", " +
                                    std::to_string(q.cols) + ")");
    bind::View t;
    const int32_t* tp = bind::targets_arg(targets, t, p.rows);
    const size_t n = p.rows;
    const char* f64_names[] = {"kl", "kl_reverse", "js", "entropy_ref", "entropy_var", "target_logprob_ref",
                               "target_logprob_var", "top5_overlap", "top10_overlap"};
    py::dict d;
    double* f[9];
    for (int i = 0; i < 9; ++i) {
        auto a = bind::new_array<double>(n);
        f[i] = a.mutable_data();
        d[f64_names[i]] = a;
    }
    auto am_ref = bind::new_array<int32_t>(n), am_var = bind::new_array<int32_t>(n);
    d["argmax_ref"] = am_ref;
    d["argmax_var"] = am_var;
    DivergenceOut out{f[0], f[1], f[2], f[3], f[4], f[5], f[6], am_ref.mutable_data(), am_var.mutable_data(),
                      f[7], f[8]};
    {
        py::gil_scoped_release nogil;
        if (ref16) divergence_ref16(p.data<uint16_t>(), q.data<float>(), n, p.cols, tp, out);
        else divergence(p.data<float>(), q.data<float>(), n, p.cols, tp, out);
    }
    return d;
}

}  // namespace

void register_divergence(py::module_& m) {
    m.def(
        "divergence", [](py::object ref, py::object var, py::object targets) { return run(ref, var, targets, false); },
        py::arg("ref_logits"), py::arg("var_logits"), py::arg("targets") = py::none());
    m.def(
        "divergence_from_logprobs16",
        [](py::object ref, py::object var, py::object targets) { return run(ref, var, targets, true); },
        py::arg("ref_logprobs"), py::arg("var_logits"), py::arg("targets") = py::none());
}

}  // namespace tokprobe
