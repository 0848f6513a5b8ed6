/** The text an `otfuse run` prints: models and accuracies, the fusion data, the maps, the time per stage. */
import { formatTable } from '../cli/output.ts';
import type { BertExperimentReport, BertModelResult } from '../pipeline/bert-run.ts';
import type { ExperimentReport, ModelResult } from '../pipeline/run.ts';

const pct = (x: number | undefined) => (x === undefined ? '-' : `${(x * 100).toFixed(2)}%`);

function row(label: string, m: ModelResult): string[] {
  return [label, m.folder ?? '(not saved)', m.parameters.toLocaleString('en-US'), pct(m.test?.accuracy), m.test ? m.test.meanLoss.toFixed(4) : '-'];
}

export function formatExperimentSummary(r: ExperimentReport): string {
  const rows = [['model', 'folder', 'parameters', 'test accuracy', 'test loss']];
  r.parents.forEach((p, i) => rows.push(row(`${p.name}${p.name === r.anchor ? ' (anchor)' : ''}, weight ${r.weights[i].toFixed(3)}`, p)));
  if (r.vanilla) rows.push(row('vanilla fusion', r.vanilla));
  rows.push(row('OT fusion', r.ot));
  if (r.otRepaired) rows.push(row(`OT fusion + repair (${r.otRepaired.target})`, r.otRepaired));
  rows.push(...finetunedRows(r, (last) => [pct(last?.testAccuracy ?? undefined), last?.testLoss?.toFixed(4) ?? '-']));
  const lines = [formatTable(rows, ['left', 'left', 'right', 'right', 'right']), ''];
  if (r.heterogeneous) lines.push('The parents differ in width: the fused model takes the anchor\'s shape (no vanilla fusion).');
  if (r.activations) {
    const a = r.activations;
    lines.push(fusionDataLine(a, 'samples', ''));
  }
  lines.push(`normalisation: mean ${a2s(r.normalisation.mean)}, std ${a2s(r.normalisation.std)} (${r.normalisation.origin})`);
  lines.push(...mapLines(r), ...r.warnings.map((w) => `warning: ${w}`), timeLine(r.seconds));
  if (r.output) lines.push(writtenLine(r));
  return `${lines.join('\n')}\n`;
}

const FUSED_LABELS: Record<string, string> = { ot: 'OT fusion', 'ot-repaired': 'OT fusion + repair', vanilla: 'vanilla fusion' };

interface Finetuned<Point> { from: string; steps: number; curve: Point[] }

/** A row per finetuned model: its label, where it was saved (the OT models), and `scores` of its last curve point. */
function finetunedRows<Point>(
  r: { finetuned: Array<Finetuned<Point>>; output: string | null; ot: { parameters: number }; parents: Array<{ name: string; parameters: number }> },
  scores: (last: Point | undefined) => string[],
): string[][] {
  return r.finetuned.map((f) => {
    const saved = f.from.startsWith('ot') && r.output ? `${r.output}/${f.from}-finetuned` : '(not saved)';
    // Finetuning keeps a model's shape: a fused model's is the anchor's, a parent's its own.
    const parameters = r.parents.find((p) => f.from === `${p.name} (parent)`)?.parameters ?? r.ot.parameters;
    return [`${FUSED_LABELS[f.from] ?? f.from} + finetune (${f.steps} steps)`, saved, parameters.toLocaleString('en-US'), ...scores(f.curve[f.curve.length - 1])];
  });
}

/** What the output folder holds. */
function writtenLine(r: { output: string | null; otRepaired: unknown; vanilla: unknown; finetuned: Array<{ from: string }>; landscape: unknown }): string {
  const folders = ['ot', ...(r.otRepaired ? ['ot-repaired'] : []), ...(r.vanilla ? ['vanilla'] : []), ...r.finetuned.filter((f) => f.from.startsWith('ot')).map((f) => `${f.from}-finetuned`)];
  return `written: ${r.output} (${folders.map((f) => `${f}/`).join(', ')}, report.json${r.landscape ? ', landscape.svg' : ''})`;
}

function mapLines(r: { maps: ExperimentReport['maps']; anchor: string }): string[] {
  const lines: string[] = [];
  for (const { model, maps } of r.maps) {
    const score = maps.reduce((s, m) => s + m.permutationScore, 0) / Math.max(1, maps.length);
    const unconverged = maps.filter((m) => !m.converged).length;
    const solvers = [...new Set(maps.map((m) => m.solver))].join(', ');
    lines.push(`${model} -> ${r.anchor}: ${maps.length} maps (${solvers}), mean permutation score ${score.toFixed(3)}${unconverged ? `, ${unconverged} not converged` : ''}`);
  }
  return lines;
}

function timeLine(s: ExperimentReport['seconds']): string {
  const stages = (['load', 'activations', 'fusion', 'repair', 'vanilla', 'evaluate', 'finetune', 'landscape', 'save'] as const).filter((k) => s[k] !== undefined).map((k) => `${k} ${s[k]!.toFixed(1)}s`);
  return `time: ${stages.join(', ')}; total ${(s.total ?? 0).toFixed(1)}s`;
}

/** The same for a BERT experiment: masked-LM loss, perplexity and masked-token accuracy, or classification accuracy. */
export function formatBertExperimentSummary(r: BertExperimentReport): string {
  const mlm = r.head === 'masked-lm';
  const rows = [mlm ? ['model', 'folder', 'parameters', 'mlm loss', 'perplexity', 'masked acc'] : ['model', 'folder', 'parameters', 'test accuracy', 'test loss']];
  const row = (label: string, m: BertModelResult) => {
    const t = m.test;
    const scores = !t ? (mlm ? ['-', '-', '-'] : ['-', '-'])
      : t.kind === 'masked-lm' ? [t.loss.toFixed(4), t.perplexity.toFixed(2), pct(t.accuracy)]
      : [pct(t.accuracy), t.meanLoss.toFixed(4)];
    rows.push([label, m.folder ?? '(not saved)', m.parameters.toLocaleString('en-US'), ...scores]);
  };
  r.parents.forEach((p, i) => row(`${p.name}${p.name === r.anchor ? ' (anchor)' : ''}, weight ${r.weights[i].toFixed(3)}`, p));
  if (r.vanilla) row('vanilla fusion', r.vanilla);
  row('OT fusion', r.ot);
  if (r.otRepaired) row(`OT fusion + repair (${r.otRepaired.target})`, r.otRepaired);
  rows.push(...finetunedRows(r, (last) => mlm
    ? [last?.testLoss?.toFixed(4) ?? '-', last?.testPerplexity?.toFixed(2) ?? '-', pct(last?.testAccuracy ?? undefined)]
    : [pct(last?.testAccuracy ?? undefined), last?.testLoss?.toFixed(4) ?? '-']));
  const lines = [formatTable(rows, ['left', 'left', ...rows[0].slice(2).map(() => 'right' as const)]), ''];
  if (r.heterogeneous) lines.push('The parents differ in width: the fused model takes the anchor\'s shape (no vanilla fusion).');
  if (r.text.test) {
    const masking = mlm ? `, mask seed ${r.text.maskSeed}${r.text.pack ? ', packed' : ''}` : '';
    lines.push(`test data: ${r.text.test}, max length ${r.text.maxLength}${masking}`);
  }
  if (r.activations) {
    const a = r.activations;
    lines.push(fusionDataLine(a, 'sequences', ` (${a.tokens} tokens)`));
  }
  lines.push(...mapLines(r), ...r.warnings.map((w) => `warning: ${w}`), timeLine(r.seconds));
  if (r.output) lines.push(writtenLine(r));
  return `${lines.join('\n')}\n`;
}

function a2s(v: number[]): string {
  return `[${v.map((x) => x.toFixed(4)).join(', ')}]`;
}

/** The fusion data line: where the samples came from, how many were kept, and how their activations were filtered and transformed. */
function fusionDataLine(a: { source: string; kept: number; captured: number; seqFilter: string; transform: string; bytesPerModel: number }, unit: string, extra: string): string {
  const filter = a.seqFilter === 'none' ? 'none (every token)' : a.seqFilter;
  return `fusion data: ${a.source}; ${a.kept} of ${a.captured} ${unit} kept${extra}, token filter ${filter}, transform ${a.transform}, ${(a.bytesPerModel / 2 ** 20).toFixed(1)} MiB per model`;
}
