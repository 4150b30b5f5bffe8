/**
 * `npm run openapi`: writes the OpenAPI description (src/api/openapi/document.ts) to
 * docs/openapi.json, the copy in the repository. A test fails when the two differ.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiJson } from '../src/api/openapi/document.js';

const target = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));
writeFileSync(target, openApiJson());
console.log(`wrote ${target}`);
