/** What a model folder holds, read from its config.json before the model is loaded. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a model folder's config.json says it is: a BERT (and whether a sequence
 * classifier) or not; unreadable ones go the ViT way, whose loader reports them.
 */
export function bertKind(folder: string): 'masked-lm' | 'classifier' | null {
  const config = readConfig(folder);
  if (config?.model_type !== 'bert') return null;
  return Array.isArray(config.architectures) && config.architectures.includes('BertForSequenceClassification') ? 'classifier' : 'masked-lm';
}

/** 'bert' or 'vit' (anything else) by a folder's config.json; null when it has no readable one. */
export function modelKind(folder: string): 'bert' | 'vit' | null {
  const config = readConfig(folder);
  return config === null ? null : config.model_type === 'bert' ? 'bert' : 'vit';
}

function readConfig(folder: string): Record<string, unknown> | null {
  const path = join(folder, 'config.json');
  if (!existsSync(path)) return null;
  try {
    const config: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return config && typeof config === 'object' && !Array.isArray(config) ? (config as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
