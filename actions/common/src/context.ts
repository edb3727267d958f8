import { join } from 'node:path';
import * as core from '@actions/core';
import {
  createProgress,
  isModelshipError,
  toModelshipError,
  untrustedLines,
  untrustedText,
  type Progress,
} from '@modelship/core';
import { SECRET_INPUTS, secretInput } from './inputs.js';
import { jobSummary, type Summary } from './summary.js';
import { actionInputName } from './input-names.js';

/**
 * Everything an action's `run(inputs, ctx)` writes: outputs, log lines, the job summary, files
 * for later steps. The runner's is `runnerContext()`; a test passes a recorder, so the glue
 * runs in-process without INPUT_* variables or GITHUB_* files.
 */
export interface ActionContext {
  setOutput(name: string, value: string): void;
  info(message: string): void;
  /** A warning about untrusted text (a file name, a registry's answer). */
  warning(message: string): void;
  notice(message: string): void;
  error(message: string, properties?: core.AnnotationProperties): void;
  summary: Summary;
  /** Where files for later steps go: RUNNER_TEMP/modelship (the working directory outside Actions). */
  tempDir: string;
}

/** The runner's context; the summary is written only when `showSummary` (input show-summary). */
export function runnerContext(showSummary: boolean): ActionContext {
  return {
    setOutput: (name, value) => core.setOutput(name, value),
    info: (m) => core.info(m),
    // @actions/core escapes the line breaks of an annotation message itself; this also makes
    // control characters (terminal escapes) visible, as everywhere else
    // (packages/core/src/untrusted-text.ts).
    warning: (m) => core.warning(untrustedText(m)),
    notice: (m) => core.notice(m),
    error: (m, properties) => core.error(m, properties),
    summary: jobSummary(showSummary),
    tempDir: join(process.env.RUNNER_TEMP || process.cwd(), 'modelship'),
  };
}

/** Periodic progress lines in the job log. */
export function logProgress(ctx: Pick<ActionContext, 'info'>, label: string): Progress {
  return createProgress(label, { mode: 'lines', write: (t) => ctx.info(t.trimEnd()) });
}

/**
 * Runs an action: every secret input is masked first, then `body` reads its typed inputs and
 * calls run(); any failure becomes `setFailed("CODE: message\nhint: ...")`, each line
 * neutralised because messages quote registry bodies, tags and file names.
 */
export async function runAction(body: () => Promise<void>): Promise<void> {
  try {
    for (const name of SECRET_INPUTS) secretInput(name);
    await body();
  } catch (e) {
    const err = isModelshipError(e) ? e : toModelshipError(e);
    const { message, hint } = err.render(actionInputName);
    core.setFailed(`${err.code}: ${untrustedLines(message)}${hint ? `\nhint: ${untrustedLines(hint)}` : ''}`);
  }
}
