// The bundled Fashion-MNIST parents with the data that ships with the package: the
// paper's one-shot result (OT fusion far above vanilla averaging) and statistics
// repair's target (at least 90 % of the parents' mean accuracy), on the full test split.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadExperimentConfig } from '../lib/config/load.ts';
import { runExperiment } from '../lib/pipeline/run.ts';

const demoConfig = join(import.meta.dirname, '..', 'configs', 'demo.yaml');

describe('bundled parents', function () {
  this.timeout(120000);

  it('OT fusion beats vanilla fusion by far, and repair keeps 90 % of the parents\' accuracy', async () => {
    const report = await runExperiment(loadExperimentConfig(demoConfig, ['finetune.enabled=false', 'output.folder=null']));
    const parents = report.parents.map((p) => p.test!.accuracy);
    const mean = parents.reduce((a, b) => a + b, 0) / parents.length;
    assert.ok(parents.every((a) => a >= 0.88), `parents: ${parents}`);
    assert.equal(report.parents[0].test!.images, 10000);
    const vf = report.vanilla!.test!.accuracy, ot = report.ot.test!.accuracy, repaired = report.otRepaired!.test!.accuracy;
    assert.ok(ot > vf + 0.1, `OT ${ot} vs vanilla ${vf}`);
    assert.ok(repaired >= 0.9 * mean, `repaired ${repaired} vs 0.9 x parents' mean ${0.9 * mean}`);
  });

  it('fuses the wide parent into a narrow anchor (heterogeneous), far above chance', async () => {
    const report = await runExperiment(loadExperimentConfig(demoConfig, [
      'finetune.enabled=false', 'output.folder=null', 'model.name_0=models/fashion-mnist/vit-wide', 'data.test_limit=2000',
    ]));
    assert.equal(report.heterogeneous, true);
    assert.equal(report.vanilla, null);
    assert.equal(report.ot.parameters, report.parents[1].parameters);
    assert.ok(report.otRepaired!.test!.accuracy > 0.5, `repaired ${report.otRepaired!.test!.accuracy}`);
  });
});
