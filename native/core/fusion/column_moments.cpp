#include "column_moments.h"

#include <cmath>

#include "fusion.h"

namespace tf::fusion {

void ColumnMoments::add(const double* mean, const double* std, int64_t rows) {
  if (rows <= 0) return;
  const double n_a = double(count_), n_b = double(rows), n = n_a + n_b;
  for (size_t j = 0; j < mean_.size(); ++j) {
    const double delta = mean[j] - mean_[j];
    mean_[j] += delta * n_b / n;
    m2_[j] += std[j] * std[j] * n_b + delta * delta * n_a * n_b / n;
  }
  count_ += rows;
}

std::vector<double> ColumnMoments::std() const {
  std::vector<double> out(m2_.size(), 0.0);
  if (count_ > 0)
    for (size_t j = 0; j < out.size(); ++j) out[j] = std::sqrt(m2_[j] / double(count_));
  return out;
}

StreamedColumnStats::StreamedColumnStats(ActivationStore& store) : store_(store) {
  for (size_t i = 0; i < store.entry_count(); ++i) {
    if (!store.entry(i).kept) continue;
    entries_.push_back(i);
    names_.push_back(store.entry(i).name);
    moments_.emplace_back(store.cols(i));
  }
}

void StreamedColumnStats::drain() {
  Backend& be = store_.backend();
  // The chunk's captures are queued on the backend's stream; the statistics read them.
  be.synchronize();
  for (size_t k = 0; k < entries_.size(); ++k) {
    const size_t i = entries_[k];
    const int64_t rows = store_.rows(i), cols = store_.cols(i);
    std::vector<double> mean(static_cast<size_t>(cols)), sd(static_cast<size_t>(cols));
    column_mean_std_on(be, store_.data(i), rows, cols, mean.data(), sd.data());
    moments_[k].add(mean.data(), sd.data(), rows);
  }
  store_.clear();
}

}  // namespace tf::fusion
