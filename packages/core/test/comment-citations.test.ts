import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/*
 * The code-style rule "comments cite only what a reader of this repository can open": a
 * source comment may point at a file of this repository or a public URL, not at another
 * project's source tree (`pkg/sign/content.go`, `src/Runner.Common/ActionCommand.cs`) nor at
 * the team's notes outside the repository (`../shared/…`, "reference §4"). What such a
 * citation stood for lives in the docs, each page with its "Sources"; comments cite the page.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Extensions that make a slash-separated token a file citation. */
const FILE_EXT = /\.(?:go|cs|php|py|rs|java|rb|kt|proto|c|h|cc|md|ts|js|cjs|mjs)$/;
/** Data files: cited with a longer path; `dir/config.json` is a placeholder, not a citation. */
const DATA_EXT = /\.(?:json|ya?ml)$/;
/** First segments of the usual source trees of other projects (Go's pkg/, cmd/ ...). */
const SOURCE_ROOT = /^(?:pkg|internal|cmd|src|docs|specs-go|web|schema|config)\//;
/** A path-like token: two or more segments, not part of a longer word or a URL. */
const PATH_TOKEN = /(?<![\w./:@$-])(?:\.\.\/)*[\w@][\w.@-]*(?:\/[\w.@-]+)+/g;

export interface Citation {
  line: number;
  cited: string;
  why: string;
}

/**
 * Citations in one line of comment text that a reader of the repository cannot open.
 * `exists` says whether a path names a file or directory of the repository (resolved
 * however the caller sees fit).
 */
export function outsideCitations(text: string, exists: (path: string) => boolean): Omit<Citation, 'line'>[] {
  const out: Omit<Citation, 'line'>[] = [];
  // Public URLs are fine: anyone can open them.
  const plain = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, ' ');
  if (/(?:^|[^\w])(?:\.\.\/)?shared\/(?:reference|data|ARCHITECTURE)/.test(plain))
    out.push({
      cited: /(?:\.\.\/)?shared\/\S*/.exec(plain)![0],
      why: 'the team folder ../shared is not in the repository',
    });
  const ref = /\breference\s*§\s*[\d.]*\d|§\s*[\d.]*\d\s+of the reference\b/i.exec(plain);
  if (ref) out.push({ cited: ref[0], why: 'a section of a reference document outside the repository' });
  const pinned = /\b[\w.-]+\/[\w.-]+@[0-9a-f]{7,40}\b/.exec(plain);
  if (pinned) out.push({ cited: pinned[0], why: "another repository's tree at a revision" });
  for (const m of plain.matchAll(PATH_TOKEN)) {
    const token = m[0].replace(/[.@]+$/, '');
    const segments = token.split('/');
    // Paths through hidden directories (.github/workflows/x.yml, .git/info/exclude) are
    // example paths in a user's repository, not citations.
    if (segments.some((s) => s.startsWith('.') && s !== '..')) continue;
    const data = DATA_EXT.test(token) && segments.length >= 3;
    if (!FILE_EXT.test(token) && !data && !SOURCE_ROOT.test(token)) continue;
    if (!exists(token)) out.push({ cited: token, why: 'no such file in this repository' });
  }
  return out.filter((c, i) => out.findIndex((d) => d.cited === c.cited) === i);
}

/** Every comment of a TypeScript file, line by line (1-based line numbers). */
export function commentLines(fileName: string, text: string): { line: number; text: string }[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const seen = new Set<number>();
  const out: { line: number; text: string }[] = [];
  const take = (ranges: ts.CommentRange[] | undefined) => {
    for (const r of ranges ?? []) {
      if (seen.has(r.pos)) continue;
      seen.add(r.pos);
      const first = source.getLineAndCharacterOfPosition(r.pos).line + 1;
      text
        .slice(r.pos, r.end)
        .split('\n')
        .forEach((l, i) => out.push({ line: first + i, text: l }));
    }
  };
  const visit = (node: ts.Node) => {
    take(ts.getLeadingCommentRanges(text, node.getFullStart()));
    take(ts.getTrailingCommentRanges(text, node.getEnd()));
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return out.sort((a, b) => a.line - b.line);
}

/** The .ts sources of the packages and the actions, repository-relative. */
function sourceFiles(): string[] {
  const out: string[] = [];
  for (const group of ['packages', 'actions'])
    for (const pkg of readdirSync(join(ROOT, group))) {
      const src = join(ROOT, group, pkg, 'src');
      if (!existsSync(src)) continue;
      for (const f of readdirSync(src, { recursive: true }) as string[])
        if (f.endsWith('.ts')) out.push(relative(ROOT, join(src, f)).split(sep).join('/'));
    }
  return out.sort();
}

/**
 * A path cited in `file` is in the repository when it resolves from the repository root,
 * from the file's own directory, or from its package (`src/spdx.ts`) or source root
 * (`verify/trust.ts` in packages/core/src).
 */
function resolvesIn(file: string): (path: string) => boolean {
  const [group, pkg] = file.split('/');
  const bases = [ROOT, join(ROOT, dirname(file)), join(ROOT, group, pkg), join(ROOT, group, pkg, 'src')];
  return (path) => bases.some((b) => existsSync(join(b, path)));
}

export function scanSources(read: (file: string) => string = (f) => readFileSync(join(ROOT, f), 'utf8')): string[] {
  const findings: string[] = [];
  for (const file of sourceFiles()) {
    const exists = resolvesIn(file);
    for (const { line, text } of commentLines(file, read(file)))
      for (const c of outsideCitations(text, exists)) findings.push(`${file}:${line}: "${c.cited}" (${c.why})`);
  }
  return findings;
}

describe('source comments cite only what a reader of the repository can open', () => {
  const findings = scanSources();

  it('no comment in packages/*/src or actions/*/src cites another repository or ../shared', () => {
    expect(findings).toEqual([]);
  });

  const none = () => false;
  const cited = (text: string, exists: (p: string) => boolean = none) =>
    outsideCitations(text, exists).map((c) => c.cited);

  it('finds the citation forms that were in the sources', () => {
    expect(cited(' * cosign and sigstore-go write (sigstore-go pkg/sign/content.go sets no keyid).')).toEqual([
      'pkg/sign/content.go',
    ]);
    expect(
      cited(' * What the runner parses (actions/runner, src/Runner.Common/ActionCommand.cs, read for this):'),
    ).toEqual(['src/Runner.Common/ActionCommand.cs']);
    expect(cited('/** Fulcio extensions (fulcio docs/oid-info.md), .9–.22. */')).toEqual(['docs/oid-info.md']);
    expect(cited('/** OCI and ModelPack identifiers. Facts: shared/reference/modelpack.md §1, §4, §5. */')).toEqual([
      'shared/reference/modelpack.md',
    ]);
    expect(cited(' * ../shared/data/schemas/crds/SOURCES (the CRDs the tests validate against):')).toEqual([
      '../shared/data/schemas/crds/SOURCES',
    ]);
    expect(cited('  // The bare name is the tar type; raw carries a `.raw` suffix (reference §4).')).toEqual([
      'reference §4',
    ]);
    expect(cited(' * The MOT model file (schema/mof_schema.json, §5.2 of the reference) with')).toEqual([
      '§5.2 of the reference',
      'schema/mof_schema.json',
    ]);
    expect(cited(' * The 17 MOF components exactly as MOT stores them (lfai/model_openness_tool@8b5d30e,')).toEqual([
      'lfai/model_openness_tool@8b5d30e',
    ]);
    expect(
      cited(" *  - `.kitignore` at the model dir's root, as KitOps reads it (pkg/lib/filesystem/ignore in"),
    ).toEqual(['pkg/lib/filesystem/ignore']);
  });

  it('leaves public URLs, specs, this repository and words with slashes alone', () => {
    const inRepo = (p: string) =>
      ['docs/signing.md', 'packages/core/src/untrusted-text.ts', 'verify/trust.ts'].includes(p);
    for (const text of [
      '/** Hex SHA-256 of the DER SubjectPublicKeyInfo (RFC 6962 §3.2 key id). */',
      "  '.go',",
      ' * see https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md for the OIDs',
      ' * blanked for cosign (docs/signing.md, "With a key"); read by verify/trust.ts.',
      ' * start a workflow command (packages/core/src/untrusted-text.ts).',
      '/** Registry flags (same names as oras/cosign), for HOST/REPO and application/vnd.oci.image.index.v1+json. */',
      '  // owner/repo/.github/workflows/x.yml@refs/heads/main -> .github/workflows/x.yml',
      ' * top-level folder (oras_1.2.3/…) and some keep binaries in bin/.',
      ' * Writes `dir/config.json`: the current docker config (DOCKER_CONFIG or ~/.docker).',
    ])
      expect(cited(text, inRepo)).toEqual([]);
  });

  it('reads comments, not code: a path in a string literal is not a citation', () => {
    const lines = commentLines(
      'x.ts',
      "const a = 'pkg/sign/content.go'; // why: see docs/x.md\n/* one\n * two pkg/a.go */\nconst re = /a\\/b.go/;\n",
    );
    expect(lines).toEqual([
      { line: 1, text: '// why: see docs/x.md' },
      { line: 2, text: '/* one' },
      { line: 3, text: ' * two pkg/a.go */' },
    ]);
  });
});
