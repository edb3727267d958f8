/** The OCI image layout store, split by job: blobs, index.json, tags, referrers. */
export { OciLayoutStore, type OciLayoutOpenOptions } from './store.js';
export { ANNOTATION_COSIGN_KIND, COSIGN_KIND_IMAGE, COSIGN_KIND_IMAGE_INDEX } from './tags.js';
export { ANNOTATION_REFERRER_SUBJECT } from './referrers.js';
