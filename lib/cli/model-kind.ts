/** What a model folder holds, read from its config.json before the model is loaded. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a model folder's config.json says it is: a BERT (and whether a sequence
 * classifier) or not; unreadable ones go the ViT way, whose loader reports them.
 */
export function bertKind(folder: string): 'masked-lm' | 'classifier' | null {
  const path = join(folder, 'config.json');
  if (!existsSync(path)) return null;
  try {
    const config = JSON.parse(readFileSync(path, 'utf8')) as { model_type?: unknown; architectures?: unknown };
    if (config.model_type !== 'bert') return null;
    return Array.isArray(config.architectures) && config.architectures.includes('BertForSequenceClassification') ? 'classifier' : 'masked-lm';
  } catch {
    return null;
  }
}
