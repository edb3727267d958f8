import * as github from '@actions/github';
import { htmlSummary, type ActionContext, type Summary } from '@modelship/action-common';

/** Where the pull-request comment goes: input github-token, the repository and the pull request of the event. */
export interface PrComment {
  token: string;
  /** GITHUB_API_URL (https://api.github.com, or a GitHub Enterprise Server's /api/v3). */
  apiUrl: string;
  owner: string;
  repo: string;
  /** The pull request's number; undefined when the event is not a pull request (then no comment). */
  number: number | undefined;
}

/** The hidden line that marks modelship's own comment, so a re-run updates it instead of adding one. */
export const COMMENT_MARKER = '<!-- modelship-pr-check -->';

/**
 * The comment target from the runner's event (GITHUB_EVENT_PATH, GITHUB_REPOSITORY,
 * GITHUB_API_URL, read by @actions/github's context). The token is masked by runAction
 * before any input is read.
 */
export function prCommentFromEvent(token: string): PrComment {
  const { context } = github;
  const number = context.payload.pull_request?.number ?? undefined;
  const [owner = '', repo = ''] = (process.env['GITHUB_REPOSITORY'] ?? '').split('/');
  return { token, apiUrl: context.apiUrl, owner, repo, number: typeof number === 'number' ? number : undefined };
}

/**
 * Posts the verification table as one pull-request comment, or updates modelship's earlier one
 * (found by COMMENT_MARKER among all the pull request's comments, page by page). A failure of
 * the GitHub API is a warning: the check's result is the verification's, not the comment's.
 * The warning names the HTTP status and GitHub's message, never the request (its headers
 * carry the token).
 */
export async function upsertPrComment(
  target: PrComment,
  build: (summary: Summary) => Summary,
  ctx: Pick<ActionContext, 'info' | 'warning'>,
): Promise<void> {
  if (target.number === undefined) {
    ctx.info('github-token is set, but this run is not for a pull request: no comment');
    return;
  }
  const rendered = htmlSummary();
  build(rendered);
  const body = `${COMMENT_MARKER}\n${rendered.html()}`;
  const octokit = github.getOctokit(target.token, { baseUrl: target.apiUrl });
  const where = { owner: target.owner, repo: target.repo };
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, {
      ...where,
      issue_number: target.number,
      per_page: 100,
    });
    const ours = comments.filter((c) => c.body?.startsWith(COMMENT_MARKER));
    // Prefer a bot's (the Actions token's) over a human's comment that happens to start with the marker.
    const earlier = ours.find((c) => c.user?.type === 'Bot') ?? ours[0];
    if (earlier) {
      await octokit.rest.issues.updateComment({ ...where, comment_id: earlier.id, body });
      ctx.info(`updated the pull-request comment ${earlier.html_url ?? earlier.id}`);
    } else {
      const created = await octokit.rest.issues.createComment({ ...where, issue_number: target.number, body });
      ctx.info(`posted the pull-request comment ${created.data.html_url ?? created.data.id}`);
    }
  } catch (e) {
    const err = e as { status?: unknown; message?: unknown; response?: { data?: { message?: unknown } } };
    const status = typeof err.status === 'number' ? `HTTP ${err.status}` : 'no answer';
    const detail = typeof err.response?.data?.message === 'string' ? err.response.data.message : '';
    const why = detail || (typeof err.message === 'string' ? err.message.split('\n')[0] : String(e));
    // ctx.warning neutralises the text (GitHub's message is another service's words).
    ctx.warning(
      `could not post the pull-request comment (${status}: ${why}); the check result stands. ` +
        'The token needs pull-requests: write (fork pull requests get a read-only token).',
    );
  }
}
