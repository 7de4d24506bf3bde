/** What every benchmark suite implements, and what the dispatcher hands it. */
import type { Cleanup } from './lib/cleanup.js';

export interface SuiteContext {
  /** Everything the suite starts registers its undo here; the dispatcher runs it on every exit path. */
  readonly cleanup: Cleanup;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** The report (stdout). */
  readonly out: (text: string) => void;
  /** Progress lines (stderr), so that stdout holds only the report. */
  readonly log: (line: string) => void;
  /** Where result files go unless the user says otherwise: `<repo>/bench-results`. */
  readonly resultsDir: string;
}

export interface Suite {
  readonly name: string;
  /** One line, for the dispatcher's usage text. */
  readonly summary: string;
  /**
   * Runs the suite with the arguments after its name. Resolves when done (targets missed are reported,
   * not thrown); throws BenchError on errors, which makes the run exit non-zero.
   */
  run(args: readonly string[], ctx: SuiteContext): Promise<void>;
}
