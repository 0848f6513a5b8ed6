// Reading the OT options objects of lib/ot.ts into the core's option structs, shared by
// the OT exports and the fusion exports. Absent fields keep the core's defaults.
#pragma once

#include "../core/ot/ot.h"
#include "args.h"

namespace tfb {

// { metric, squared, unitNorm, normalize, clip: { reg, min, max } }
tf::ot::CostOptions ReadCostOptions(const Fields& f);

// { reg, numItermax, stopThr, checkEvery, method, epsilonScaling: {...} }
tf::ot::SinkhornOptions ReadSinkhornOptions(const Fields& f);

}  // namespace tfb
