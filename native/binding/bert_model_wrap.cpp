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
#include "task.h"

namespace tfb {

Napi::FunctionReference* BertModelWrap::constructor_ = nullptr;

namespace {

int64_t ConfigInt(Napi::Env env, const Napi::Object& obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) ThrowArgError(env, std::string("BERT config: ") + key + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d))) ThrowArgError(env, std::string("BERT config: ") + key + " must be an integer");
  return int64_t(d);
}

// As for the ViT: the CPU unless CUDA is asked for by name (the text ops have no CUDA
// twins yet, so "auto" must not pick a GPU that cannot run them).
tf::Backend& BertBackend(const std::string& device) {
  if (device == "cuda") return tf::cuda_backend();
  if (device == "cpu" || device == "auto" || device.empty()) return tf::cpu_backend();
  throw tf::Error("unknown device '" + device + "' (expected auto, cpu or cuda)");
}

Napi::Array ShapeArray(Napi::Env env, const std::vector<int64_t>& dims) {
  Napi::Array a = Napi::Array::New(env, dims.size());
  for (size_t i = 0; i < dims.size(); ++i) a.Set(uint32_t(i), Napi::Number::New(env, double(dims[i])));
  return a;
}

// bertLayout(config) -> { total, tensors: [{ name, shape, offset }], capturePoints: [{ name, tokens, width }] }
Napi::Value BertLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::BertConfig config = ReadBertConfig(env, info[0]);
  tf::BertParamLayout layout(config);
  Napi::Object out = Napi::Object::New(env);
  out.Set("total", Napi::Number::New(env, double(layout.total())));
  Napi::Array tensors = Napi::Array::New(env, layout.tensors().size());
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const auto& t = layout.tensors()[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("shape", ShapeArray(env, t.shape));
    o.Set("offset", Napi::Number::New(env, double(t.offset)));
    tensors.Set(uint32_t(i), o);
  }
  out.Set("tensors", tensors);
  auto points = tf::bert_capture_points(config);
  Napi::Array pts = Napi::Array::New(env, points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", points[i].name);
    o.Set("tokens", Napi::Number::New(env, double(points[i].tokens)));
    o.Set("width", Napi::Number::New(env, double(points[i].width)));
    o.Set("padded", Napi::Boolean::New(env, points[i].padded));
    pts.Set(uint32_t(i), o);
  }
  out.Set("capturePoints", pts);
  return out;
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
  c.vocab_size = ConfigInt(env, o, "vocabSize");
  c.hidden_size = ConfigInt(env, o, "hidden");
  c.num_layers = ConfigInt(env, o, "layers");
  c.num_heads = ConfigInt(env, o, "heads");
  c.intermediate_size = ConfigInt(env, o, "intermediate");
  c.max_positions = ConfigInt(env, o, "maxPositions");
  c.type_vocab_size = ConfigInt(env, o, "typeVocabSize");
  c.num_labels = ConfigInt(env, o, "labels");
  Napi::Value eps = o.Get("layerNormEps");
  if (!eps.IsNumber()) ThrowArgError(env, "BERT config: layerNormEps must be a number");
  c.layer_norm_eps = eps.As<Napi::Number>().FloatValue();
  Napi::Value head = o.Get("head");
  const std::string h = head.IsString() ? head.As<Napi::String>().Utf8Value() : "";
  if (h == "masked-lm") c.head = tf::BertHead::MaskedLM;
  else if (h == "sequence-classification") c.head = tf::BertHead::SequenceClassification;
  else ThrowArgError(env, "BERT config: head must be 'masked-lm' or 'sequence-classification'");
  Napi::Value tied = o.Get("tiedDecoder");
  if (!tied.IsBoolean()) ThrowArgError(env, "BERT config: tiedDecoder must be a boolean");
  c.tied_decoder = tied.As<Napi::Boolean>().Value();
  try {
    c.validate();
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  return c;
}

void BertModelWrap::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "BertModel",
                  {InstanceMethod<&BertModelWrap::Forward>("forward"),
                   InstanceMethod<&BertModelWrap::Capture>("capture"),
                   InstanceMethod<&BertModelWrap::PlanActivationStore>("planActivationStore"),
                   InstanceMethod<&BertModelWrap::ReadParameters>("readParameters"),
                   InstanceMethod<&BertModelWrap::SetMicroBatch>("setMicroBatch"),
                   InstanceAccessor<&BertModelWrap::GetMicroBatch>("microBatch"),
                   InstanceAccessor<&BertModelWrap::GetDevice>("device")});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("BertModel", ctor);
  Export<BertLayout>(env, exports, "bertLayout");
}

// new BertModel(config, params, captureNames?, { device? })
BertModelWrap::BertModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BertModelWrap>(info) {
  Napi::Env env = info.Env();
  try {
    tf::BertConfig config = ReadBertConfig(env, info[0]);
    F32View params = ReadF32(env, info[1], "BertModel: params");
    std::vector<std::string> names;
    if (info[2].IsArray()) {
      Napi::Array arr = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString()) ThrowArgError(env, "BertModel: captureNames must be strings");
        names.push_back(v.As<Napi::String>().Utf8Value());
      }
    } else if (!info[2].IsUndefined() && !info[2].IsNull()) {
      ThrowArgError(env, "BertModel: captureNames must be an array of strings");
    }
    std::string device = "auto";
    if (info[3].IsObject()) {
      Napi::Value d = info[3].As<Napi::Object>().Get("device");
      if (d.IsString()) device = d.As<Napi::String>().Utf8Value();
    }
    model_ = std::make_shared<tf::BertModel>(config, BertBackend(device), params.data, int64_t(params.length), names);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

std::shared_ptr<tf::BertModel> BertModelWrap::ModelOf(const Napi::Value& value) {
  if (!value.IsObject() || !constructor_) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.InstanceOf(constructor_->Value())) return nullptr;
  return Napi::ObjectWrap<BertModelWrap>::Unwrap(obj)->model_;
}

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
  auto taken = std::make_shared<int64_t>(0);
  return Task::Start(
      env, opts, in.keep,
      [model, handle, inputs, labels, taken](tf::TaskContext& ctx) {
        std::lock_guard<std::mutex> lock(handle->mutex);
        if (!handle->store) throw tf::Error("capture: the activation store was disposed");
        *taken = model->capture(*handle->store, inputs, labels, &ctx);
      },
      [taken](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(*taken)); });
}

// planActivationStore(options) -> { bytes, limit, entries: [{ name, rowsPerSample, width }] }
Napi::Value BertModelWrap::PlanActivationStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::ActivationStoreOptions o = ReadStoreOptions(env, info[0]);
  tf::ActivationStore::Plan plan;
  try {
    plan = tf::ActivationStore::plan(model_->capture_points(), o);
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", Napi::Number::New(env, double(plan.bytes)));
  out.Set("limit", Napi::Number::New(env, double(o.max_bytes ? o.max_bytes : tf::default_activation_limit())));
  Napi::Array entries = Napi::Array::New(env, plan.entries.size());
  for (size_t i = 0; i < plan.entries.size(); ++i) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", plan.entries[i].name);
    e.Set("rowsPerSample", Napi::Number::New(env, double(plan.entries[i].rows_per_sample)));
    e.Set("width", Napi::Number::New(env, double(plan.entries[i].width)));
    entries.Set(uint32_t(i), e);
  }
  out.Set("entries", entries);
  return out;
}

Napi::Value BertModelWrap::ReadParameters(const Napi::CallbackInfo& info) {
  auto out = Napi::Float32Array::New(info.Env(), size_t(model_->layout().total()));
  model_->read_parameters(out.Data());
  return out;
}

Napi::Value BertModelWrap::SetMicroBatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 0)
    ThrowArgError(info.Env(), "setMicroBatch: n must be a non-negative integer (0: by token count)");
  model_->set_micro_batch(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value BertModelWrap::GetMicroBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(model_->micro_batch()));
}

Napi::Value BertModelWrap::GetDevice(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tf::device_name(model_->backend().device()));
}

}  // namespace tfb
