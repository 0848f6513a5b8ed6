// Per-neuron mean and standard deviation over rows that arrive chunk by chunk, for
// statistics repair's measurements: a staged pass files one chunk of samples into a small
// store, drain() adds the chunk's rows to the running statistics and empties the store,
// and the next chunk reuses its memory. No more than one chunk's activations is ever held
// (every token of every hidden layer of a ViT-B/16 over 200 images would be 13 GB).
//
// Each chunk's statistics are two-pass (fusion.h, column_mean_std); chunks are merged with
// the pairwise update of Chan, Golub and LeVeque, which stays accurate for neurons with a
// large offset. Chunks come in a fixed order, so results do not depend on threads.
#pragma once

#include <cstdint>
#include <vector>

#include "../activations/activation_store.h"

namespace tf::fusion {

class ColumnMoments {
 public:
  explicit ColumnMoments(int64_t cols) : mean_(size_t(cols), 0.0), m2_(size_t(cols), 0.0) {}
  // Adds `rows` rows whose own column means and (population) standard deviations these are.
  void add(const double* mean, const double* std, int64_t rows);
  int64_t count() const { return count_; }
  std::vector<double> mean() const { return mean_; }
  std::vector<double> std() const;

 private:
  int64_t count_ = 0;
  std::vector<double> mean_, m2_;  // m2: sum of squared deviations from the mean
};

// The statistics of every entry a store keeps, over all the chunks drained from it.
class StreamedColumnStats {
 public:
  explicit StreamedColumnStats(ActivationStore& store);
  // Adds the store's rows to each kept entry's statistics and empties the store.
  void drain();
  // Kept entries in store order: their names and statistics.
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<ColumnMoments>& moments() const { return moments_; }

 private:
  ActivationStore& store_;
  std::vector<size_t> entries_;
  std::vector<std::string> names_;
  std::vector<ColumnMoments> moments_;
};

}  // namespace tf::fusion
