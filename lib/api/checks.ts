/**
 * The models the programmatic API is handed, checked at its door (option objects and
 * values: lib/options.ts), so that a wrong argument is one error naming it instead of a
 * TypeError from deep inside or, worse, a silently wrong result: a config the tensors
 * fit, HF's shapes, data as long as each shape says.
 */
import { InputError } from '../errors.ts';
import { checkTensorsMatchConfig } from '../io/expected-weights.ts';
import type { Model } from '../io/model-folder.ts';

/** `value` must be a loaded or built Model whose tensors fit its config; `what` names it. */
export function checkModel(value: unknown, what: string): asserts value is Model {
  const m = value as Partial<Model> | null;
  if (!m || typeof m !== 'object' || !m.config || typeof m.config !== 'object' || !(m.tensors instanceof Map))
    throw new InputError(what, 'is not a model: expected { config, architecture, tensors: Map } as loadModel returns');
  const type = (m.config as { model_type?: unknown }).model_type;
  if (type !== 'vit' && type !== 'bert') throw new InputError(what, `has model_type ${JSON.stringify(type)}; vit and bert models are supported`);
  // The checks loadModel makes: a config the tensors fit, layer by layer (so an absurd
  // num_hidden_layers fails at the first missing layer, before any memory is sized by it).
  checkTensorsMatchConfig(m.config, m.architecture!, m.tensors, `${m.source?.folder ?? what}`);
}
