// Finite-difference gradient checks for the backward kernels: a float64 reference
// forward of the op, a scalar loss L = sum(dout * y) with a fixed random dout, central
// differences in double, and the error of the kernel's gradient relative to the largest
// reference gradient.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

namespace tf::test {

// dL/dx[i] for L(x) = loss(x), by central differences with step h, in double, at the
// given indices (all when empty).
inline std::vector<double> numeric_gradient(std::vector<double> x, const std::function<double(const std::vector<double>&)>& loss,
                                            const std::vector<size_t>& indices = {}, double h = 1e-5) {
  std::vector<double> g(x.size(), 0.0);
  auto one = [&](size_t i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = loss(x);
    x[i] = keep - h;
    const double down = loss(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  };
  if (indices.empty())
    for (size_t i = 0; i < x.size(); ++i) one(i);
  else
    for (size_t i : indices) one(i);
  return g;
}

// max |got - want| / max |want| over the given indices (all when empty).
template <typename A>
double relative_error(const A& got, const std::vector<double>& want, const std::vector<size_t>& indices = {}) {
  double scale = 1e-12, err = 0.0;
  auto visit = [&](size_t i) {
    scale = std::max(scale, std::fabs(want[i]));
    err = std::max(err, std::fabs(double(got[i]) - want[i]));
  };
  if (indices.empty())
    for (size_t i = 0; i < want.size(); ++i) visit(i);
  else
    for (size_t i : indices) visit(i);
  return err / scale;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

inline double dot(const std::vector<double>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * double(b[i]);
  return s;
}

// Prints "    <what>: relative error 1.2e-07" so runs show how close each check came.
inline void report(const char* what, double err) { std::printf("    %s: relative error %.2e\n", what, err); }

}  // namespace tf::test
