import { join } from 'node:path';
import type { ActionContext, Summary, SummaryTableRow } from '../src/index.js';

/** What a run() wrote, for in-process action tests (no INPUT_* variables, no GITHUB_* files). */
export interface Recorded {
  outputs: Record<string, string>;
  log: string[];
  /** Each written summary: its headings, raw HTML and table rows, in order. */
  summaries: string[][];
}

/** An ActionContext that records outputs, log lines and the summary parts written. */
export function recordingContext(tempDir: string): { ctx: ActionContext; recorded: Recorded } {
  const recorded: Recorded = { outputs: {}, log: [], summaries: [] };
  let parts: string[] = [];
  const summary: Summary = {
    addHeading: (text) => (parts.push(`# ${text}`), summary),
    addRaw: (html) => (parts.push(html), summary),
    addTable: (rows: SummaryTableRow[]) => (
      parts.push(...rows.map((r) => r.map((c) => (typeof c === 'string' ? c : c.data)).join(' | '))),
      summary
    ),
    addList: (items) => (parts.push(...items.map((i) => `- ${i}`)), summary),
    write: async () => {
      recorded.summaries.push(parts);
      parts = [];
    },
  };
  const ctx: ActionContext = {
    setOutput: (name, value) => {
      recorded.outputs[name] = value;
    },
    info: (m) => recorded.log.push(m),
    warning: (m) => recorded.log.push(`warning: ${m}`),
    notice: (m) => recorded.log.push(`notice: ${m}`),
    error: (m) => recorded.log.push(`error: ${m}`),
    summary,
    tempDir: join(tempDir, 'modelship'),
  };
  return { ctx, recorded };
}
