/**
 * The experiment file beside a generated model pair (make-vitb-pair.ts,
 * make-bert-base-pair.ts): the paper's recommended acts-mode Sinkhorn fusion of name_0
 * onto name_1 on 200 samples, without repair or finetuning (the stages bench/fusion
 * measures), plus what the pair's kind needs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export function writePairExperiment(folder: string, title: string, extra: { model?: object; acts?: object; data: object }): void {
  const doc = {
    model: { ...extra.model, name_0: 'a', name_1: 'b' },
    fusion: { type: 'acts', resid_policy: 'mean', ot_solver: 'sinkhorn', sinkhorn_reg: 0.08, acts: { num_samples: 200, ...extra.acts }, repair: 'none' },
    data: extra.data,
    finetune: { enabled: false },
  };
  writeFileSync(join(folder, 'experiment.yaml'), `# ${title}\n${stringify(doc)}`);
}
