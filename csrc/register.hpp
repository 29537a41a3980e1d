// One register_<area>(m) per binding file; module.cpp calls them all.
#pragma once

#include <pybind11/pybind11.h>

namespace tokprobe {

void register_runtime(pybind11::module_& m);
void register_row_stats(pybind11::module_& m);
void register_divergence(pybind11::module_& m);
void register_topk_tail(pybind11::module_& m);
void register_class_mass(pybind11::module_& m);
void register_topk(pybind11::module_& m);
void register_histogram(pybind11::module_& m);
void register_summary(pybind11::module_& m);
void register_floors(pybind11::module_& m);

}  // namespace tokprobe
