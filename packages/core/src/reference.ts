import { ModelshipError } from './errors.js';

/** A parsed `host[:port]/name[:tag][@digest]` (distribution-spec name/tag grammar). */
export interface Reference {
  /** `docker.io` for Docker Hub (see `registryApiHost` for where its API lives). */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// sha256 only: it is the one algorithm every store here hashes with.
const DIGEST_PART_RE = /^sha256:[a-f0-9]{64}$/;
const HOST_RE =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

const SHAPE =
  'host[:port]/name[:tag][@sha256:<64 hex>] (for example ghcr.io/org/model:v1 or localhost:5000/model@sha256:…)';

function usage(input: string, why: string, hint?: string): ModelshipError {
  return new ModelshipError('USAGE', `invalid reference "${input}": ${why}; expected ${SHAPE}`, hint ? { hint } : {});
}

/** Whether a registry name means Docker Hub. */
export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry.toLowerCase());
}

/** Where the registry's HTTP API answers (Docker Hub's is not at `docker.io`). */
export function registryApiHost(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_API : registry;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidRepository(name: string): boolean {
  return REPOSITORY_RE.test(name);
}

/**
 * Parses `host[:port]/name[:tag][@digest]`. The first path component is a registry when it
 * has a `.` or `:` or is `localhost` (docker's rule); otherwise the reference is on Docker Hub,
 * where a single-component name lives under `library/`.
 */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === '') throw usage(input, 'it is empty');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s))
    throw usage(input, 'it has a URL scheme', `drop the scheme: ${s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')}`);
  if (/\s/.test(s)) throw usage(input, 'it contains whitespace');

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_PART_RE.test(digest)) throw usage(input, `"${digest}" is not a sha256 digest`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag))
      throw usage(input, `"${tag}" is not a valid tag (letters, digits, _ . -; at most 128; no leading . or -)`);
  }

  let registry: string;
  let repository: string;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    repository = rest.slice(slash + 1);
    if (!HOST_RE.test(registry)) throw usage(input, `"${registry}" is not a valid registry host[:port]`);
    const port = /:(\d+)$/.exec(registry);
    if (port && Number(port[1]) > 65535) throw usage(input, `port ${port[1]} is out of range`);
  } else {
    registry = DOCKER_HUB;
    repository = slash >= 0 ? rest : `library/${rest}`;
  }
  if (isDockerHub(registry)) {
    registry = DOCKER_HUB;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }

  if (repository === '') throw usage(input, 'the repository name is missing');
  if (!REPOSITORY_RE.test(repository)) {
    const hint =
      repository !== repository.toLowerCase()
        ? `repository names must be lowercase: ${repository.toLowerCase()}`
        : 'repository path components are lowercase letters and digits separated by . _ __ or -';
    throw usage(input, `"${repository}" is not a valid repository name`, hint);
  }
  if (registry.length + 1 + repository.length > 255) throw usage(input, 'host/name is longer than 255 characters');

  const ref: Reference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The canonical string form (`docker.io/library/x:tag`, `host:port/name@sha256:…`). */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}
