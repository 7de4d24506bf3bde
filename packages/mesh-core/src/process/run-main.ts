/**
 * The one place a binary's exit code becomes `process.exit`: 0 after a clean stop, what `main` resolved
 * with otherwise, 2 for a configuration the environment cannot make (every problem on stderr, nothing
 * logged: the logger's level is itself configuration), 1 with the stack for anything unexpected.
 */
import { EnvConfigError } from '../config/index.js';

/** Runs `main` and exits the process with its code; `name` prefixes what goes to stderr. */
export function runMain(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof EnvConfigError) {
        process.stderr.write(`${name}: ${err.reason}\n`);
        process.exit(2);
      }
      process.stderr.write(`${name}: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
