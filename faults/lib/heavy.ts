import { jsonAnswer, type AnswerCheck } from './load.js';

/**
 * Requests for the `heavy` example model (a 512-2048-2048-512-10 MLP): one row of
 * 512 features as JSON, from a pool of distinct rows, so that each answer can be
 * checked against the answer its row got before the fault.
 */
export const HEAVY_ROWS: readonly string[] = Array.from({ length: 8 }, (_, k) =>
  JSON.stringify([
    Array.from({ length: 512 }, (_, j) => Math.round(Math.sin((k + 1) * (j + 1)) * 1000) / 1000),
  ]),
);

/** Ask the gateway once per pool row; the checks later answers must pass. */
export async function heavyAnswers(gatewayUrl: string, model: string): Promise<AnswerCheck[]> {
  const checks: AnswerCheck[] = [];
  for (const body of HEAVY_ROWS) {
    const response = await fetch(`${gatewayUrl}/v1/models/${model}/invoke`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    });
    if (response.status !== 200) {
      throw new Error(`baseline answer: ${response.status} ${await response.text()}`);
    }
    checks.push(jsonAnswer(await response.json()));
  }
  return checks;
}
