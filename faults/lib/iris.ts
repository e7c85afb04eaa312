import { jsonAnswer, type AnswerCheck } from './load.js';

/** Iris rows as CSV request bodies (two rows each), from a small pool. */
export const IRIS_BODIES: readonly string[] = [
  '5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n',
  '4.9,3.0,1.4,0.2\n7.0,3.2,4.7,1.4\n',
  '5.8,2.7,5.1,1.9\n5.0,3.6,1.4,0.2\n',
  '6.4,3.2,4.5,1.5\n6.5,3.0,5.8,2.2\n',
  '5.7,2.8,4.1,1.3\n4.6,3.1,1.5,0.2\n',
  '6.9,3.1,5.4,2.1\n5.5,2.3,4.0,1.3\n',
];

/** The answer each pool body gets from a gateway before the fault, as checks. */
export async function irisAnswers(gatewayUrl: string, model: string): Promise<AnswerCheck[]> {
  const checks: AnswerCheck[] = [];
  for (const body of IRIS_BODIES) {
    const response = await fetch(`${gatewayUrl}/v1/models/${model}/invoke`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
    });
    if (response.status !== 200) {
      throw new Error(`baseline answer: ${response.status} ${await response.text()}`);
    }
    checks.push(jsonAnswer(await response.json()));
  }
  return checks;
}
