// Which rows a store keeps of each capture point, and how large it is: the sequence
// filters (window_k, only_cls, position_p, token averaging), their parsing, and the
// default memory ceilings. The rules are described in activation_store.h.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "../error.h"
#include "activation_store.h"

namespace tf {

void parse_sequence_filter(const std::string& name, SequenceFilter* filter, int64_t* window) {
  *window = 0;
  if (name.empty() || name == "none") {
    *filter = SequenceFilter::None;
    return;
  }
  if (name == "only_cls") {
    *filter = SequenceFilter::OnlyCls;
    return;
  }
  for (const auto& [prefix, kind, least] : {std::tuple<std::string, SequenceFilter, int64_t>{"window_", SequenceFilter::Window, 1},
                                             {"position_", SequenceFilter::Position, 0}}) {
    if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) continue;
    const std::string digits = name.substr(prefix.size());
    bool ok = digits.size() <= 6;
    for (char ch : digits) ok = ok && ch >= '0' && ch <= '9';
    if (ok && std::stoll(digits) >= least) {
      *filter = kind;
      *window = std::stoll(digits);
      return;
    }
  }
  throw Error("unknown sequence filter '" + name +
              "' (expected none, only_cls, window_<k> with k >= 1 or position_<p> with p >= 0)");
}

uint64_t default_activation_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return uint64_t(4) << 30;
  return uint64_t(pages) * uint64_t(page) / 2;
}

uint64_t activation_limit(const Backend& be) {
  const uint64_t host = default_activation_limit();
  if (be.device() == Device::Cpu) return host;
  const GpuInfo gpu = cuda_device_info();
  return gpu.present && gpu.memory_bytes ? std::min(host, gpu.memory_bytes / 4 * 3) : host;
}

namespace {

std::vector<int64_t> window_tokens(int64_t grid, int64_t k, const std::string& name) {
  if (k > grid)
    throw Error("sequence filter window_" + std::to_string(k) + " is larger than the " + std::to_string(grid) + "x" +
                std::to_string(grid) + " patch grid of '" + name + "'");
  const int64_t start = (grid - k) / 2;
  std::vector<int64_t> tokens = {0};
  for (int64_t r = start; r < start + k; ++r)
    for (int64_t c = start; c < start + k; ++c) tokens.push_back(1 + r * grid + c);
  return tokens;
}

}  // namespace

ActivationStore::Plan ActivationStore::plan(const std::vector<CapturePoint>& points,
                                            const ActivationStoreOptions& o) {
  if (o.capacity <= 0) throw Error("an activation store needs a capacity of at least 1 sample");
  if (o.max_tokens < 0) throw Error("an activation store's max_tokens must not be negative");
  if (o.max_total_tokens < 0) throw Error("an activation store's max_total_tokens must not be negative");
  Plan p;
  uint64_t floats = 0;
  int64_t padded_tokens = -1;
  for (const auto& want : o.only) {
    bool known = false;
    for (const auto& pt : points) known = known || pt.name == want;
    if (!known) throw Error("the model has no activation called '" + want + "' to capture");
  }
  for (const auto& pt : points) {
    ActivationEntry e;
    e.name = pt.name;
    e.width = pt.width;
    e.padded = pt.padded;
    e.source_tokens = pt.padded && o.max_tokens > 0 ? std::min(pt.tokens, o.max_tokens) : pt.tokens;
    e.kept = o.only.empty() || std::find(o.only.begin(), o.only.end(), pt.name) != o.only.end();
    if (!e.kept) {
      p.entries.push_back(std::move(e));  // a placeholder: capture points keep their indices
      continue;
    }
    if (pt.padded) {
      if (padded_tokens >= 0 && padded_tokens != e.source_tokens)
        throw Error("activation store: padded points must share one sequence length ('" + pt.name + "')");
      padded_tokens = e.source_tokens;
    }
    if (o.average_tokens) {
      e.average = e.source_tokens > 1;
      if (!e.average) e.kept_tokens = {0};
    } else if (pt.full_sequence && o.filter == SequenceFilter::Position) {
      if (o.window >= e.source_tokens)
        throw Error("sequence position " + std::to_string(o.window) + " is past the " + std::to_string(e.source_tokens) +
                    " tokens of '" + pt.name + "'");
      e.kept_tokens = {o.window};
    } else if (pt.full_sequence && o.filter != SequenceFilter::None) {
      if (pt.cls_only_when_filtered || o.filter == SequenceFilter::OnlyCls) {
        e.kept_tokens = {0};
      } else if (pt.grid <= 0) {
        throw Error("sequence filter window_" + std::to_string(o.window) + " needs a patch grid, but '" + pt.name +
                    "' is a token sequence without one (use only_cls or none)");
      } else {
        e.kept_tokens = window_tokens(pt.grid, o.window, pt.name);
      }
    } else {
      for (int64_t t = 0; t < e.source_tokens; ++t) e.kept_tokens.push_back(t);
      e.variable_rows = pt.padded;
    }
    e.rows_per_sample = e.average ? 1 : int64_t(e.kept_tokens.size());
    e.row_capacity = o.capacity * e.rows_per_sample;
    if (e.variable_rows && o.max_total_tokens > 0) e.row_capacity = std::min(e.row_capacity, o.max_total_tokens);
    e.offset = floats;
    floats += uint64_t(e.row_capacity * e.width);
    p.entries.push_back(std::move(e));
  }
  p.floats = floats;
  p.bytes = (p.floats + uint64_t(o.capacity)) * sizeof(float);
  return p;
}

}  // namespace tf
