/**
 * A STAND-IN for GitHub's REST API on 127.0.0.1, with only the issue-comment routes the PR
 * check uses, shaped as GitHub documents them (docs.github.com/rest/issues/comments):
 *
 * - `GET /repos/{owner}/{repo}/issues/{number}/comments?per_page&page`: oldest first, paginated
 *   with a `Link` header (`rel="next"`, `rel="last"`), as GitHub pages lists;
 * - `POST /repos/{owner}/{repo}/issues/{number}/comments` `{body}` → 201 and the comment;
 * - `PATCH /repos/{owner}/{repo}/issues/comments/{id}` `{body}` → 200 and the comment.
 *
 * A request whose `Authorization` is not `token <the token>` gets 401, as GitHub answers a bad
 * token; `failWith` makes every request answer that status (403 is what a read-only token of a
 * fork's pull request gets: "Resource not accessible by integration").
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinComment {
  id: number;
  body: string;
  user: { login: string; type: 'User' | 'Bot' };
  html_url: string;
  created_at: string;
  updated_at: string;
}

export interface StandinRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface GitHubApiStandin {
  /** What GITHUB_API_URL would be. */
  url: string;
  /** Comments per `owner/repo#number`. */
  comments: Map<string, StandinComment[]>;
  requests: StandinRequest[];
  failWith: number | undefined;
  stop(): Promise<void>;
}

export async function startGitHubApiStandin(token: string): Promise<GitHubApiStandin> {
  let nextId = 1000;
  const comments = new Map<string, StandinComment[]>();
  const requests: StandinRequest[] = [];
  const state = { failWith: undefined as number | undefined };
  let base = '';

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const readBody = async (req: IncomingMessage): Promise<{ body?: unknown }> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { body?: unknown };
  };
  const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      requests.push({
        method: req.method ?? '',
        path: url.pathname + url.search,
        authorization: req.headers.authorization,
      });
      if (req.headers.authorization !== `token ${token}`)
        return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      if (state.failWith)
        return send(res, state.failWith, {
          message: 'Resource not accessible by integration',
          documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
        });
      const list = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
      const one = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
      if (list && req.method === 'GET') {
        const all = comments.get(`${list[1]}/${list[2]}#${list[3]}`) ?? [];
        const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100);
        const page = Number(url.searchParams.get('page') ?? 1);
        const last = Math.max(1, Math.ceil(all.length / perPage));
        const link = (p: number): string => {
          const u = new URL(url);
          u.searchParams.set('per_page', String(perPage));
          u.searchParams.set('page', String(p));
          return u.toString();
        };
        const headers: Record<string, string> =
          page < last ? { link: `<${link(page + 1)}>; rel="next", <${link(last)}>; rel="last"` } : {};
        return send(res, 200, all.slice((page - 1) * perPage, page * perPage), headers);
      }
      if (list && req.method === 'POST') {
        const { body } = await readBody(req);
        if (typeof body !== 'string') return send(res, 422, { message: 'Invalid request: body is required' });
        const key = `${list[1]}/${list[2]}#${list[3]}`;
        const id = nextId++;
        const c: StandinComment = {
          id,
          body,
          user: { login: 'github-actions[bot]', type: 'Bot' },
          html_url: `https://github.com/${list[1]}/${list[2]}/pull/${list[3]}#issuecomment-${id}`,
          created_at: now(),
          updated_at: now(),
        };
        comments.set(key, [...(comments.get(key) ?? []), c]);
        return send(res, 201, c);
      }
      if (one && req.method === 'PATCH') {
        const { body } = await readBody(req);
        for (const [key, cs] of comments)
          for (const c of cs)
            if (key.startsWith(`${one[1]}/${one[2]}#`) && c.id === Number(one[3])) {
              if (typeof body !== 'string') return send(res, 422, { message: 'Invalid request: body is required' });
              c.body = body;
              c.updated_at = now();
              return send(res, 200, c);
            }
      }
      return send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const standin: GitHubApiStandin = {
    url: base,
    comments,
    requests,
    get failWith() {
      return state.failWith;
    },
    set failWith(v) {
      state.failWith = v;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return standin;
}

/** `count` comments by people, for pagination. */
export function peopleComments(count: number): StandinComment[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    body: `LGTM ${i + 1}`,
    user: { login: `reviewer${i % 3}`, type: 'User' as const },
    html_url: `https://github.com/acme/models/pull/7#issuecomment-${i + 1}`,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
  }));
}
