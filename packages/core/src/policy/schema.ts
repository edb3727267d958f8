/**
 * JSON Schema (draft 2020-12) for policy files, version 1. Structural checks only; regex
 * anchoring, regex validity and cross-field rules are checked in parse.ts.
 */
const ANCHORED_REGEX = { type: 'string', minLength: 2 } as const;

export const POLICY_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://modelship.dev/schemas/policy-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'signers'],
  properties: {
    version: { const: 1 },
    signers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: {
          github: {
            type: 'object',
            additionalProperties: false,
            required: ['repository', 'workflow', 'ref'],
            properties: {
              repository: { type: 'string', pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$' },
              workflow: { type: 'string', pattern: '^\\.github/workflows/[^/]+\\.ya?ml$' },
              ref: { type: 'string', minLength: 1 },
            },
          },
          keyless: {
            type: 'object',
            additionalProperties: false,
            required: ['issuer', 'identity'],
            properties: {
              issuer: { type: 'string', format: 'uri', pattern: '^https?://' },
              identity: ANCHORED_REGEX,
            },
          },
          key: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            maxProperties: 1,
            properties: {
              path: { type: 'string', minLength: 1 },
              pem: { type: 'string', minLength: 1 },
            },
          },
          notation: {
            type: 'object',
            additionalProperties: false,
            required: ['trustStore', 'identities'],
            properties: {
              trustStore: { type: 'string', minLength: 1 },
              identities: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 } },
            },
          },
        },
      },
    },
    minSignatures: { type: 'integer', minimum: 1 },
    require: {
      type: 'object',
      additionalProperties: false,
      properties: {
        predicates: { type: 'array', uniqueItems: true, items: { type: 'string', format: 'uri' } },
        slsa: {
          type: 'object',
          additionalProperties: false,
          properties: {
            builder: ANCHORED_REGEX,
            workflow: { type: 'string', pattern: '^\\.github/workflows/[^/]+\\.ya?ml$' },
            // owner/name, or host/owner/name for another GitHub host (GHE.com, GHES).
            sourceRepository: {
              type: 'string',
              pattern: '^(?:[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+/)?[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$',
            },
            ref: ANCHORED_REGEX,
            forbidSelfHosted: { type: 'boolean' },
            // Where the model came from: hf://ORG/NAME (huggingface.co) or a repository URL.
            modelSource: {
              type: 'object',
              additionalProperties: false,
              required: ['repository'],
              properties: {
                repository: {
                  type: 'string',
                  pattern: '^(?:hf://[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+|https?://[^\\s/@?#]+/[^\\s@?#]+)$',
                },
                commits: {
                  type: 'array',
                  minItems: 1,
                  uniqueItems: true,
                  items: { type: 'string', pattern: '^(?:[0-9a-f]{40}|[0-9a-f]{64})$' },
                },
              },
            },
          },
        },
        mof: {
          type: 'object',
          additionalProperties: false,
          required: ['minClass'],
          properties: { minClass: { type: 'integer' } },
        },
        licenses: {
          type: 'object',
          additionalProperties: false,
          properties: {
            allow: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z0-9.+-]+$' } },
            deny: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z0-9.+-]+$' } },
          },
        },
        artifact: {
          type: 'object',
          additionalProperties: false,
          properties: {
            identifiers: { type: 'array', uniqueItems: true, items: { type: 'string' } },
            maxLayerBytes: { type: 'integer', minimum: 1 },
          },
        },
        scan: {
          type: 'object',
          additionalProperties: false,
          properties: {
            deny: { type: 'array', uniqueItems: true, items: { enum: ['unsafe', 'unknown-format'] } },
            allowUnknownFormats: { type: 'boolean' },
          },
        },
        sbom: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['cyclonedx', 'spdx'] } },
      },
    },
    trust: {
      type: 'object',
      additionalProperties: false,
      properties: {
        trustedRoot: { type: 'string', minLength: 1 },
        tufMirror: { type: 'string', pattern: '^https?://[^\\s/]+' },
        tufRoot: { type: 'string', minLength: 1 },
        requireTlog: { type: 'boolean' },
      },
    },
    promote: {
      type: 'object',
      additionalProperties: false,
      properties: {
        destinations: { type: 'array', minItems: 1, uniqueItems: true, items: ANCHORED_REGEX },
      },
    },
  },
} as const;
