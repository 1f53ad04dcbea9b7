// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the test feeds other tools' ${...} syntax through the renderer on purpose.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleLayout } from '../../scripts/lib/render/layout.js';
import { renderTemplate } from '../../scripts/lib/render/template.js';
import { tempDir } from '../helpers/tmp.js';

const none = new Set<string>();

describe('renderTemplate', () => {
  it('leaves every other tool’s syntax byte for byte', () => {
    const foreign = [
      // nginx variables, maps and named locations
      'proxy_set_header X-Request-ID $request_id; set $x "${host}:${server_port}";',
      'error_page 502 @maintenance; location @maintenance { return 503; }',
      'if ($http_x_request_id ~* "^[[:alnum:]-]{1,64}$") { set $rid $http_x_request_id; }',
      // Prometheus relabelling
      "replacement: '$1:${1}' regex: '(.+)@(.+)'",
      // Go templates (Prometheus, Alertmanager)
      "description: '{{ $labels.instance }} is {{ $value | humanizePercentage }}'",
      '{{ define "email.subject" }}[{{ .Status | toUpper }}]{{ end }}',
      // Grafana
      'rate(healthmate_http_requests_total{instance=~"$instance"}[$__rate_interval]) ${datasource}',
      // compose interpolation
      'image: ${BACKEND_IMAGE:-healthmate/backend}:${TAG:?Variable not set} $$escaped',
      // e-mail addresses and celery node names
      'to: alerts@healthmate.org  command: celery worker -n worker@%h',
      '',
    ].join('\n');
    const result = renderTemplate('foreign.conf', foreign, {}, none);
    expect(result.problems).toEqual([]);
    expect(result.text).toBe(foreign);
  });

  it('substitutes placeholders with their values', () => {
    const result = renderTemplate('t', 'server_name @@DOMAIN@@; workers @@N@@ @@ON@@\n', { DOMAIN: 'api.healthmate.org', N: 3, ON: true }, none);
    expect(result.text).toBe('server_name api.healthmate.org; workers 3 true\n');
    expect([...result.used].sort()).toEqual(['DOMAIN', 'N', 'ON']);
  });

  it('names file and line of an unknown placeholder', () => {
    const result = renderTemplate('nginx/site.conf', 'a\nb @@NOPE@@\n', {}, none);
    expect(result.problems).toEqual([
      { file: 'nginx/site.conf', line: 2, message: 'unknown placeholder @@NOPE@@; add NOPE to the env schema (scripts/lib/env/vars) or fix the name.' },
    ]);
  });

  it('names file and line of an unterminated placeholder', () => {
    const result = renderTemplate('monitoring/x.yml', 'ok: @@A@@\nbad: @@DOMAIN\n', { A: 1 }, none);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ file: 'monitoring/x.yml', line: 2, message: expect.stringContaining('unterminated') });
  });

  it('refuses to render a secret into a config', () => {
    const result = renderTemplate('c.yml', 'password: @@POSTGRES_PASSWORD@@', { POSTGRES_PASSWORD: 'x' }, new Set(['POSTGRES_PASSWORD']));
    expect(result.problems[0]?.message).toContain('mount secrets/postgres_password instead');
    expect(result.text).not.toContain('x\n');
  });
});

describe('bundleLayout', () => {
  function tree(files: string[]): string {
    const root = tempDir();
    for (const file of files) {
      mkdirSync(join(root, file, '..'), { recursive: true });
      writeFileSync(join(root, file), file);
    }
    return root;
  }

  it('maps compose/ to the bundle root and picks env-specific files', () => {
    const root = tree([
      'compose/docker-compose.prod.yml',
      'compose/docker-compose.dev.yml',
      'compose/backend/Dockerfile',
      'monitoring/prometheus.yml',
      'monitoring/prometheus.dev.yml',
      'monitoring/grafana/prod/dashboards/overview.json',
      'monitoring/grafana/dev/dashboards/dev.json',
      'monitoring/tests/rules.test.yml',
      'nginx/nginx.conf',
      'nginx/README.md',
    ]);
    expect(bundleLayout(root, 'prod').map((e) => `${e.source} -> ${e.target}`)).toEqual([
      'compose/docker-compose.prod.yml -> docker-compose.yml',
      'monitoring/grafana/prod/dashboards/overview.json -> monitoring/grafana/dashboards/overview.json',
      'monitoring/prometheus.yml -> monitoring/prometheus.yml',
      'nginx/nginx.conf -> nginx/nginx.conf',
    ]);
    expect(bundleLayout(root, 'dev').map((e) => `${e.source} -> ${e.target}`)).toEqual([
      'compose/docker-compose.dev.yml -> docker-compose.yml',
      'monitoring/grafana/dev/dashboards/dev.json -> monitoring/grafana/dashboards/dev.json',
      'monitoring/prometheus.dev.yml -> monitoring/prometheus.yml',
      'nginx/nginx.conf -> nginx/nginx.conf',
    ]);
  });

  it('refuses two env-specific files with the same target', () => {
    const root = tree(['nginx/site.prod.conf', 'nginx/prod/site.conf']);
    expect(() => bundleLayout(root, 'prod')).toThrow(/both render to nginx\/site.conf/);
  });
});
