#include "bert_model_wrap.h"

#include <cstdlib>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "../core/activations/activation_store.h"
#include "../core/backend.h"
#include "../core/bert/bert_capture.h"
#include "activation_store_wrap.h"
#include "args.h"
#include "capture_task.h"
#include "model_args.h"

namespace tfb {

namespace {

// bertLayout(config) -> { total, tensors: [{ name, shape, offset }], capturePoints: [{ name, tokens, width }] }
Napi::Value BertLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::BertConfig config = ReadBertConfig(env, info[0]);
  tf::BertParamLayout layout(config);
  return DescribeLayout(env, layout.total(), layout.tensors(), tf::bert_capture_points(config), true);
}

// A Float32Array of `count` floats whose memory the forward pass fills completely: large
// ones (a masked LM's logits run to hundreds of MB) skip the zero fill a JS allocation
// does and sit on huge pages where the kernel allows, which halves the cost of handing
// every logit back.
Napi::Float32Array OutputArray(Napi::Env env, size_t count) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t bytes = count * sizeof(float);
  if (bytes < 4 * kHuge) return Napi::Float32Array::New(env, count);
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* data = std::aligned_alloc(kHuge, rounded);
  if (!data) throw Napi::Error::New(env, "could not allocate " + std::to_string(bytes) + " bytes for the logits");
#ifdef __linux__
  madvise(data, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(rounded));
  auto buffer = Napi::ArrayBuffer::New(env, data, bytes, [rounded](Napi::Env e, void* p) {
    std::free(p);
    Napi::MemoryManagement::AdjustExternalMemory(e, -int64_t(rounded));
  });
  return Napi::Float32Array::New(env, count, buffer, 0);
}

// The sequences of a forward or capture call, as typed arrays that stay alive (kept)
// while the task runs.
struct InputViews {
  tf::BertInputs inputs;
  std::vector<Napi::Value> keep;
};

template <typename Elem>
const Elem* OptionalArray(Napi::Env env, const Napi::Object& o, const char* key,
                                                napi_typedarray_type type, const char* type_name, size_t need,
                                                std::vector<Napi::Value>& keep) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    ThrowArgError(env, std::string("BERT inputs: ") + key + " must be " + type_name);
  auto arr = v.As<Napi::TypedArrayOf<Elem>>();
  if (arr.ElementLength() < need)
    ThrowArgError(env, std::string("BERT inputs: ") + key + " holds " + std::to_string(arr.ElementLength()) +
                           " values, count x tokens needs " + std::to_string(need));
  keep.push_back(v);
  return arr.Data();
}

// { ids: Int32Array, typeIds?: Int32Array, mask?: Uint8Array, count, tokens }
InputViews ReadInputs(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowArgError(env, "BERT inputs must be an object {ids, typeIds?, mask?, count, tokens}");
  Napi::Object o = value.As<Napi::Object>();
  InputViews v;
  v.inputs.count = ReadSize(env, o.Get("count"), "BERT inputs: count");
  v.inputs.tokens = ReadSize(env, o.Get("tokens"), "BERT inputs: tokens");
  const size_t need = size_t(v.inputs.count * v.inputs.tokens);
  v.inputs.ids = OptionalArray<int32_t>(env, o, "ids", napi_int32_array, "an Int32Array", need, v.keep);
  if (!v.inputs.ids) ThrowArgError(env, "BERT inputs: ids must be an Int32Array");
  v.inputs.type_ids = OptionalArray<int32_t>(env, o, "typeIds", napi_int32_array, "an Int32Array", need, v.keep);
  v.inputs.mask = OptionalArray<uint8_t>(env, o, "mask", napi_uint8_array, "a Uint8Array", need, v.keep);
  return v;
}

// Labels: count x tokens (masked LM) or count (classification) Int32Array, or null.
const int32_t* ReadBertLabels(Napi::Env env, const Napi::Value& v, size_t need, std::vector<Napi::Value>& keep) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowArgError(env, "BERT labels must be an Int32Array");
  auto arr = v.As<Napi::Int32Array>();
  if (arr.ElementLength() < need)
    ThrowArgError(env, "BERT labels: " + std::to_string(arr.ElementLength()) + " labels, " + std::to_string(need) +
                           " needed");
  keep.push_back(v);
  return arr.Data();
}

}  // namespace

tf::BertConfig ReadBertConfig(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowArgError(env, "BERT config must be an object");
  Napi::Object o = value.As<Napi::Object>();
  tf::BertConfig c;
  c.vocab_size = ReadConfigInt(env, o, "vocabSize", "BERT config");
  c.hidden_size = ReadConfigInt(env, o, "hidden", "BERT config");
  c.num_layers = ReadConfigInt(env, o, "layers", "BERT config");
  c.num_heads = ReadConfigInt(env, o, "heads", "BERT config");
  c.intermediate_size = ReadConfigInt(env, o, "intermediate", "BERT config");
  c.max_positions = ReadConfigInt(env, o, "maxPositions", "BERT config");
  c.type_vocab_size = ReadConfigInt(env, o, "typeVocabSize", "BERT config");
  c.num_labels = ReadConfigInt(env, o, "labels", "BERT config");
  c.layer_norm_eps = ReadConfigFloat(env, o, "layerNormEps", "BERT config");
  Napi::Value head = o.Get("head");
  const std::string h = head.IsString() ? head.As<Napi::String>().Utf8Value() : "";
  if (h == "masked-lm") c.head = tf::BertHead::MaskedLM;
  else if (h == "sequence-classification") c.head = tf::BertHead::SequenceClassification;
  else ThrowArgError(env, "BERT config: head must be 'masked-lm' or 'sequence-classification'");
  c.tied_decoder = ReadConfigBool(env, o, "tiedDecoder", "BERT config");
  return Validated(env, c);
}

void BertModelWrap::Register(Napi::Env env, Napi::Object exports) {
  // No dispose(): the BERT adapter releases its model by dropping the reference.
  std::vector<Napi::ClassPropertyDescriptor<BertModelWrap>> members = {
      InstanceMethod<&BertModelWrap::Forward>("forward"),
      InstanceMethod<&BertModelWrap::Capture>("capture"),
      InstanceMethod<&BertModelWrap::StageSamples>("stageSamples"),
      InstanceMethod<&BertModelWrap::PlanActivationStore>("planActivationStore"),
      ReadParametersMethod(),
      StaticMethod<&BertModelWrap::BuildStatic>("build"),
      InstanceMethod<&BertModelWrap::SetMicroBatch>("setMicroBatch"),
      MicroBatchAccessor(),
      DeviceAccessor()};
  for (auto& m : StagedMethods()) members.push_back(m);
  Napi::Function ctor = Define(env, kClassName, members);
  exports.Set("BertModel", ctor);
  Export<BertLayout>(env, exports, "bertLayout");
}

// BertModel.build(config, parts, captureNames?, options): see ModelWrap::BuildAsync.
Napi::Value BertModelWrap::BuildStatic(const Napi::CallbackInfo& info) {
  return CallGuarded(info.Env(), [&] {
    const auto config = ReadBertConfig(info.Env(), info[0]);
    return BuildAsync(info, config, tf::BertParamLayout(config).total());
  });
}

// new BertModel(External): only from BertModel.build() (ModelWrap::Adopt).
BertModelWrap::BertModelWrap(const Napi::CallbackInfo& info) : ModelWrap(info) { Adopt(info); }

// forward(inputs, labels | null, { logits?, predictions? }, options)
//   -> Promise<{ logits | null, losses | null, predictions | null }>
Napi::Value BertModelWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tf::BertConfig& c = model_->config();
  InputViews in = ReadInputs(env, info[0]);
  const int64_t n = in.inputs.count, T = in.inputs.tokens;
  const bool mlm = c.masked_lm();
  const size_t per_sample = size_t(mlm ? T : 1);
  const int32_t* labels = ReadBertLabels(env, info[1], size_t(n) * per_sample, in.keep);
  bool want_logits = true, want_predictions = false;
  Fields want(env, info[2], "forward");
  want.boolean("logits", want_logits);
  want.boolean("predictions", want_predictions);
  TaskOptions opts = TaskOptions::From(info[3]);

  Napi::Object result = Napi::Object::New(env);
  tf::BertOutputs out;
  auto attach = [&](const char* key, Napi::Value v) {
    result.Set(key, v);
    in.keep.push_back(v);
  };
  if (want_logits) {
    const double count = double(n) * double(mlm ? T * c.vocab_size : c.num_labels);
    if (count > 4294967295.0)
      ThrowArgError(env, "forward: " + std::to_string(int64_t(count)) +
                             " logits do not fit one typed array; run fewer sequences per call or ask for no logits");
    auto a = OutputArray(env, size_t(count));
    out.logits = a.Data();
    attach("logits", a);
  } else {
    result.Set("logits", env.Null());
  }
  if (labels) {
    auto a = Napi::Float32Array::New(env, size_t(n) * per_sample);
    out.losses = a.Data();
    attach("losses", a);
  } else {
    result.Set("losses", env.Null());
  }
  if (want_predictions) {
    auto a = Napi::Int32Array::New(env, size_t(n) * per_sample);
    out.predictions = a.Data();
    attach("predictions", a);
  } else {
    result.Set("predictions", env.Null());
  }
  auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(result));
  auto model = model_;
  tf::BertInputs inputs = in.inputs;
  return Task::Start(
      env, opts, in.keep,
      [model, inputs, labels, out](tf::TaskContext& ctx) { model->forward(inputs, labels, out, &ctx); },
      [ref](Napi::Env) -> Napi::Value { return ref->Value(); });
}

// capture(store, inputs, labels | null, options) -> Promise<number taken>
Napi::Value BertModelWrap::Capture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto handle = ActivationStoreWrap::Handle(env, info[0], "capture: store");
  InputViews in = ReadInputs(env, info[1]);
  const size_t per_sample = size_t(model_->config().masked_lm() ? in.inputs.tokens : 1);
  const int32_t* labels = ReadBertLabels(env, info[2], size_t(in.inputs.count) * per_sample, in.keep);
  TaskOptions opts = TaskOptions::From(info[3]);
  in.keep.push_back(info[0]);
  auto model = model_;
  tf::BertInputs inputs = in.inputs;
  auto work = [model, inputs, labels](tf::ActivationStore& store, tf::TaskContext& ctx) {
    return model->capture(store, inputs, labels, &ctx);
  };
  return StartCapture(env, opts, in.keep, handle, work);
}

// stageSamples(inputs, options) -> Promise<void>: checks and copies the sequences into the
// model's staged samples (tf::BertModel::stage_samples) on a worker.
Napi::Value BertModelWrap::StageSamples(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  InputViews in = ReadInputs(env, info[0]);
  auto model = model_;
  tf::BertInputs inputs = in.inputs;
  return Task::Start(
      env, TaskOptions::From(info[1]), in.keep, [model, inputs](tf::TaskContext&) { model->stage_samples(inputs); },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

// planActivationStore(options) -> { bytes, limit, entries: [{ name, rowsPerSample, width }] }
Napi::Value BertModelWrap::PlanActivationStore(const Napi::CallbackInfo& info) {
  tf::ActivationStoreOptions options = ReadStoreOptions(info.Env(), info[0]);
  return DescribeStorePlan(info.Env(), options, model_->capture_points(), model_->backend(), false);
}

Napi::Value BertModelWrap::SetMicroBatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 0)
    ThrowArgError(info.Env(), "setMicroBatch: n must be a non-negative integer (0: by token count)");
  model_->set_micro_batch(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

}  // namespace tfb
