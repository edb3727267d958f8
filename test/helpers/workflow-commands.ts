/**
 * The lines of a step's output that a GitHub Actions runner would act on as workflow
 * commands, by the runner's own rules (actions/runner, src/Runner.Common/ActionCommand.cs):
 * a line that starts with `::` after leading white space (TryParseV2), or that holds `##[`
 * anywhere (the legacy TryParse, tried when V2 fails). Lines end at CR, LF or CRLF.
 */
export function workflowCommandLines(output: string): string[] {
  return output.split(/\r\n|\r|\n/).filter((line) => line.trimStart().startsWith('::') || line.includes('##['));
}

/** Attacker-chosen text that tries every kind of command (and a terminal escape). */
export const INJECTIONS = [
  '\n::set-output name=pwned::1',
  '\n::add-mask::modelship',
  '\r::stop-commands::tok3n',
  ' ##[stop-commands]tok3n ',
  '\n  ::error file=README.md,line=1::forged\u001b[31m',
];
export const INJECTION = INJECTIONS.join('');

/**
 * The same attempts without a control character, so pack accepts it as a file name (it refuses
 * names pull would refuse): a name that starts a table row with `::`, and the legacy form.
 */
export const FILENAME_INJECTION = '::set-output name=pwned::1 ##[stop-commands]tok3n ::error::forged';

/** Attacker-chosen text for a job summary: a tag, a blank line, a markdown table row and image (no `/`: it goes into file names too). */
export const HTML_INJECTION = '<img src=x onerror=alert(1)>\n\n| a | b |\n![t](https:evil.example)';
