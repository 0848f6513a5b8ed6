#include "ot_options.h"

#include <cmath>
#include <utility>

namespace tfb {

tf::ot::CostOptions ReadCostOptions(const Fields& f) {
  tf::ot::CostOptions o;
  const std::string metric = f.string("metric", "euclidean");
  if (metric == "euclidean") {
    o.metric = tf::ot::Metric::Euclidean;
  } else if (metric == "cosine") {
    o.metric = tf::ot::Metric::Cosine;
  } else {
    f.bad("metric", metric, "'euclidean' or 'cosine'");
  }
  const std::string norm = f.string("normalize", "none");
  if (norm == "none") {
    o.normalize = tf::ot::Normalization::None;
  } else if (norm == "log") {
    o.normalize = tf::ot::Normalization::Log;
  } else if (norm == "max") {
    o.normalize = tf::ot::Normalization::Max;
  } else if (norm == "median") {
    o.normalize = tf::ot::Normalization::Median;
  } else if (norm == "mean") {
    o.normalize = tf::ot::Normalization::Mean;
  } else {
    f.bad("normalize", norm, "'log', 'max', 'median', 'mean' or 'none'");
  }
  f.boolean("squared", o.squared);
  f.boolean("unitNorm", o.unit_norm);
  const std::string precision = f.string("precision", "float64");
  if (precision == "float32") {
    o.gram_f32 = true;
  } else if (precision != "float64") {
    f.bad("precision", precision, "'float64' or 'float32'");
  }
  if (f.has("clip")) {
    Fields clip = f.object("clip");
    o.clip = true;
    clip.number("reg", o.clip_reg);
    clip.number("min", o.clip_min);
    clip.number("max", o.clip_max);
    for (const auto& [key, value] : {std::pair<const char*, double>{"reg", o.clip_reg}, {"min", o.clip_min}, {"max", o.clip_max}})
      if (!std::isfinite(value)) clip.fail(key, "must be a finite number");
  }
  return o;
}

tf::ot::SinkhornOptions ReadSinkhornOptions(const Fields& f) {
  tf::ot::SinkhornOptions o;
  f.number("reg", o.reg);
  f.integer("numItermax", o.max_iter);
  f.number("stopThr", o.tol);
  f.integer("checkEvery", o.check_every);
  // Checked here, not only by the core, so that the error names the option as JS spells it.
  if (!(o.tol >= 0) || !std::isfinite(o.tol)) f.fail("stopThr", "must be a finite number >= 0");
  if (o.check_every < 1) f.fail("checkEvery", "must be an integer >= 1");
  const std::string method = f.string("method", "sinkhorn");
  if (method == "sinkhorn") {
    o.method = tf::ot::SinkhornMethod::Scaling;
  } else if (method == "sinkhorn_log") {
    o.method = tf::ot::SinkhornMethod::LogSumExp;
  } else {
    f.bad("method", method, "'sinkhorn' or 'sinkhorn_log'");
  }
  if (f.has("epsilonScaling")) {
    Fields e = f.object("epsilonScaling");
    o.epsilon_scaling.enabled = true;
    e.number("regStart", o.epsilon_scaling.reg_start);
    e.number("factor", o.epsilon_scaling.factor);
    e.integer("stageItermax", o.epsilon_scaling.stage_max_iter);
    e.number("stageStopThr", o.epsilon_scaling.stage_tol);
    if (!(o.epsilon_scaling.factor > 0 && o.epsilon_scaling.factor < 1)) e.fail("factor", "must be in (0, 1)");
    if (!std::isfinite(o.epsilon_scaling.reg_start)) e.fail("regStart", "must be a finite number (<= 0: a schedule from the cost's range)");
  }
  return o;
}

}  // namespace tfb
