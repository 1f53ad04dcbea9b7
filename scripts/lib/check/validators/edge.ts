import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { standInCertificateFiles, testNginxConfig } from '../../nginx/config-test.js';
import { bundleRunsRole, error, type Validator } from '../types.js';

/** Where compose mounts the certificates in the nginx container (STATE_DIR/certs, never copied into a check). */
const NGINX_CERTS = '/etc/nginx/certs';

/** The real nginx accepts the rendered config (nginx -t). */
export const nginxConfigValidator: Validator = {
  name: 'nginx -t',
  tools: ['nginx'],
  async run({ bundleDir }) {
    // nginx runs on the app hosts: a db host's bundle has no nginx/.
    if (!bundleRunsRole({ bundleDir }, 'app')) return [];
    const dir = join(bundleDir, 'nginx');
    if (!existsSync(join(dir, 'nginx.conf'))) return [error('the bundle has no nginx/nginx.conf.')];
    const problems = await testNginxConfig(dir);
    return problems.map((p) => error(p.message, p.file ? `nginx/${p.file}` : undefined, p.line));
  },
  inImage: [
    {
      name: 'nginx',
      label: 'nginx -t in the nginx image',
      service: 'nginx',
      entrypoint: 'nginx',
      // As compose starts it (same prefix and config), with -t.
      args: ['-t', '-p', '/var/cache/nginx/', '-c', '/etc/nginx/nginx.conf', '-e', 'stderr'],
      dirs: ['/var/cache/nginx'],
      // A stand-in certificate where the real one (and its key) would be mounted.
      files: async () => Object.fromEntries(Object.entries(await standInCertificateFiles()).map(([name, content]) => [posix.join(NGINX_CERTS, name), content])),
    },
  ],
};

/** Validators of the edge area. */
export const edgeValidators: Validator[] = [nginxConfigValidator];
