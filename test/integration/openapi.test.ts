import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import request from 'supertest';
import { openApiJson } from '../../src/api/openapi/document.js';
import { openHarness, type Harness } from '../helpers/service-harness.js';

describe('GET /openapi.json', () => {
  let harness: Harness;
  before(async () => {
    harness = await openHarness();
  });
  after(() => harness.close());

  it('answers the description unsigned, with the security headers of every answer', async () => {
    const response = await request(harness.app).get('/openapi.json').expect(200).expect('Content-Type', /^application\/json/);
    expect(response.text).to.equal(openApiJson());
    expect(response.headers['content-security-policy']).to.be.a('string');
    expect(response.headers['x-request-id']).to.be.a('string');
  });

  it('is the copy checked in at docs/openapi.json (npm run openapi writes it)', () => {
    const checkedIn = readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8');
    expect(checkedIn, 'docs/openapi.json is stale: run npm run openapi').to.equal(openApiJson());
  });
});
