/**
 * Asking the operator a yes/no question on the terminal.
 *
 * @module
 */
import { createInterface } from 'node:readline';

/**
 * Ask `question` on stderr and read the answer from stdin; only `y` / `yes`
 * (any case) is yes. End of input or Ctrl-C is no.
 *
 * @example
 * ```ts
 * if (!(await confirm('Break it? [y/N] '))) return;
 * ```
 */
export function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  return new Promise((resolve) => {
    let answered = false;
    rl.on('close', () => {
      if (!answered) process.stderr.write('\n');
      resolve(false);
    });
    rl.on('SIGINT', () => rl.close());
    rl.question(question, (answer) => {
      answered = true;
      resolve(/^(y|yes)$/i.test(answer.trim())); // before close(), whose handler resolves false
      rl.close();
    });
  });
}
