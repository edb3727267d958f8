/**
 * Printing text that modelship did not write: annotations, layer file paths, signer subjects
 * and SANs, predicate fields, registry error bodies, tag names, verify reasons. On a GitHub
 * Actions runner a step's stdout and stderr are read line by line for workflow commands, so
 * such text must never be able to start one (`::set-output`, `::add-mask`, `::stop-commands`,
 * `::error file=…`); in a job summary it must never be able to leave its table cell.
 *
 * What the runner parses (read from its source: docs/reliability.md, "Security review",
 * workflow-command injection):
 * - `TryParseV2`: a line that, after `TrimStart()`, starts with `::`;
 * - `TryParse`, the legacy form, tried when V2 fails: `##[` ANYWHERE in the line
 *   (`##[stop-commands]TOKEN` in the middle of a line pauses every later command).
 * Lines end at CR, LF or CRLF (.NET `StreamReader.ReadLine`).
 *
 * So untrusted text is made single-line (every C0/C1 control character, DEL, the Unicode line
 * and paragraph separators and the bidirectional overrides become visible escapes such as `\n`,
 * `\x1b`, `\u202e`), every `##[` loses its first `#` to `\x23`, and a `::` at the start of the
 * text (after white space, which the runner trims) loses its first colon to `\x3a`. A `::` in
 * the middle of a line is left alone: the runner never reads it there, and IPv6 addresses
 * (`[::1]`) and OpenSSL messages (`DECODER routines::unsupported`) stay readable. Where pieces
 * are put together into lines (`safe` below, `untrustedLines`), every assembled line gets the
 * same check, so two values glued at the head of a line cannot form a command either. The
 * escapes are visible on purpose: a reader sees that a value held something odd.
 *
 * `@actions/core` escapes only the `%`, CR and LF of an annotation message (and `:` and `,` of its
 * properties); `core.info` writes its text as is. Hand-written because the job is small and
 * exact: a generic "strip ANSI" or HTML-escape library covers neither command form.
 */

// C0 controls, DEL, C1 controls (NEL among them), Arabic letter mark, LRM/RLM, line and
// paragraph separators, bidi embeddings/overrides and isolates. Matching control characters
// is the point here.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

// A line the runner would read as a command, once it trimmed the leading white space.
const LEADING_COLONS = /^(\s*):(?=:)/;

/** Breaks the legacy `##[` anywhere, and `::` at the head of each line. */
function breakCommands(text: string): string {
  return text
    .replace(/#(?=#\[)/g, '\\x23')
    .split('\n')
    .map((line) => line.replace(LEADING_COLONS, '$1\\x3a'))
    .join('\n');
}

/**
 * One line of untrusted text, safe to print to a runner's log: no line break, no control
 * character, no `##[`, and it does not start with `::` (see the module comment).
 */
export function untrustedText(value: unknown): string {
  return breakCommands(String(value).replace(UNSAFE_CHARS, escapeChar));
}

/**
 * Text whose line breaks are modelship's own but whose content may quote untrusted text (an
 * error message with a registry's error body in it): every line is made safe on its own, so
 * a quoted `\n::add-mask::x` becomes a line that starts with `\x3a:add-mask`, not a command.
 */
export function untrustedLines(text: string): string {
  return text.split('\n').map(untrustedText).join('\n');
}

/**
 * A tagged template for log lines: the literal parts are modelship's, every `${value}` goes
 * through `untrustedText`, and the assembled lines are checked once more, so a printer cannot
 * forget a field and two fields cannot combine into a command. Never write a workflow command
 * with it (the CLI's annotations come from `githubAnnotation`).
 *
 *     io.out(safe`FAIL ${check.rule}: ${check.detail}\n`)
 */
export function safe(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += untrustedText(values[i]) + strings[i + 1]!;
  return breakCommands(out);
}

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '|': '&#124;',
  '`': '&#96;',
};

/**
 * Untrusted text for a job summary (GITHUB_STEP_SUMMARY: markdown with HTML tables). HTML
 * special characters become entities, so a value cannot close its cell or open a tag; control
 * characters and line breaks become visible escapes, because a blank line ends the HTML block
 * and whatever follows would render as markdown (links, images); `|` and backticks become
 * entities too, so the value is also inert in a markdown table or code span.
 */
export function untrustedHtml(value: unknown): string {
  return String(value)
    .replace(UNSAFE_CHARS, escapeChar)
    .replace(/[&<>"'|`]/g, (c) => HTML_ENTITIES[c]!);
}

/** The tagged-template form of `untrustedHtml`: `safeHtml\`<code>${ref}</code>\``. */
export function safeHtml(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += untrustedHtml(values[i]) + strings[i + 1]!;
  return out;
}

// JSON.stringify escapes C0 controls but leaves DEL, C1, U+2028/2029 and the bidi controls raw.
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `JSON.stringify` for output a runner may read (`--json` on stdout) that parses back to the
 * very same value: the `#` of every `##[` is written as the JSON escape `\u0023`, and the
 * line and paragraph separators, C1 controls and bidi controls as `\u` escapes too, which is
 * lossless. `##[` can only occur inside a JSON string (`#` is no JSON syntax), and JSON.stringify
 * never leaves a backslash that a following character completes, so the substitution cannot
 * change the structure. No line of JSON.stringify output starts with `::`: each starts with
 * white space and a quote, a bracket, a brace, a number or a literal.
 */
export function untrustedJson(value: unknown, space: number = 2): string {
  return JSON.stringify(value, null, space)
    .replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/#(?=#\[)/g, '\\u0023');
}
