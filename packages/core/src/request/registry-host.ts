import { ModelshipError } from '../errors.js';

/**
 * The registry a login names: `host[:port]` (`ghcr.io`, `localhost:5000`, `docker.io`), or a
 * URL of the host as docker accepts it (`https://index.docker.io/v1/`: scheme and `/v1/` or
 * `/v2/` dropped). A repository path is refused: a login is per host.
 */
export function parseRegistryHost(value: string, label: string): string {
  let host = value.trim();
  const url = /^https?:\/\//i.test(host) ? safeUrl(host) : undefined;
  if (url) {
    if (!['', '/', '/v1/', '/v2/', '/v1', '/v2'].includes(url.pathname) || url.search || url.username)
      throw new ModelshipError('USAGE', `${label} "${value}" is a URL with a path; a login is for a registry host`, {
        hint: `pass the host alone, e.g. ${url.host}`,
      });
    host = url.host;
  }
  if (!host) throw new ModelshipError('USAGE', `${label} is empty`, { hint: 'pass a registry host such as ghcr.io' });
  if (host.includes('/'))
    throw new ModelshipError('USAGE', `${label} "${value}" names a repository; a login is for a registry host`, {
      hint: `pass the host alone, e.g. ${host.slice(0, host.indexOf('/'))}`,
    });
  if (!/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/.test(host))
    throw new ModelshipError('USAGE', `${label} "${value}" is not a registry host`, {
      hint: 'a host name or IP address, with an optional :port, such as ghcr.io or localhost:5000',
    });
  return host;
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
