import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { testNginxConfig } from '../../nginx/config-test.js';
import { error, type Validator } from '../types.js';

/** The real nginx accepts the rendered config (nginx -t). */
export const nginxConfigValidator: Validator = {
  name: 'nginx -t',
  async run({ bundleDir }) {
    const dir = join(bundleDir, 'nginx');
    if (!existsSync(join(dir, 'nginx.conf'))) return [error('the bundle has no nginx/nginx.conf.')];
    const problems = await testNginxConfig(dir);
    return problems.map((p) => error(p.message, p.file ? `nginx/${p.file}` : undefined, p.line));
  },
};

/** Validators of the edge area. */
export const edgeValidators: Validator[] = [nginxConfigValidator];
