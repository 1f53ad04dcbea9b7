import { join } from 'node:path';
import { manifestHost } from '../../bundle-folder.js';
import { dbHostPublishAllowance } from '../../cluster/deriver.js';
import { capacityProblem } from '../../compose/capacity.js';
import { composeConfig, detectCompose } from '../../compose/engine.js';
import { readCompose } from '../../compose/model.js';
import { checkPolicy } from '../../compose/policy.js';
import { firstDbHost, type InventoryHost } from '../../env/inventory.js';
import { ToolMissingError } from '../../tools.js';
import { error, type Problem, type Validator, warning } from '../types.js';

/** The compose file at the bundle root (compose/docker-compose.<env>.yml renders there). */
export const COMPOSE_FILE = 'docker-compose.yml';

/** `docker compose config` (v2 when present, else docker-compose 1.29) on the rendered file. */
export const composeConfigValidator: Validator = {
  name: 'compose config (real tool)',
  tools: ['docker-compose'],
  async run({ bundleDir, env, files }) {
    if (!files.includes(COMPOSE_FILE)) return [error(`the bundle has no ${COMPOSE_FILE}.`)];
    const flavor = await detectCompose();
    if (!flavor) throw new ToolMissingError('docker-compose');
    const result = await composeConfig(flavor, env.values.COMPOSE_PROJECT_NAME, join(bundleDir, COMPOSE_FILE));
    return result.ok ? [] : [error(`${flavor.argv.join(' ')} config refuses it: ${result.message}`, COMPOSE_FILE)];
  },
};

/** Health checks, restart, logs, pinned images, ports, secrets, mounts. */
export const composePolicyValidator: Validator = {
  name: 'compose policy',
  run({ bundleDir, env, files, secretValues }) {
    if (!files.includes(COMPOSE_FILE)) return [];
    const model = readCompose(join(bundleDir, COMPOSE_FILE));
    // The host the bundle is for (its MANIFEST.json); a whole-stack bundle carries the first db host's values.
    const host = manifestHost(bundleDir) ?? firstDbHost(env.inventory);
    const onAddress = dbHostPublishAllowance(env, { roles: host.roles as InventoryHost['roles'], ...(host.address ? { address: host.address } : {}) });
    return checkPolicy(model, { bundleFiles: files, secretValues, ...(onAddress ? { onAddress } : {}) }).map((f): Problem => {
      const message = f.service ? `service ${f.service} ${f.message}` : f.message;
      return f.severity === 'error' ? error(message, COMPOSE_FILE) : warning(message, COMPOSE_FILE);
    });
  },
};

/** Backend pools, workers and tools fit in PostgreSQL's max_connections. */
export const capacityValidator: Validator = {
  name: 'PostgreSQL connection capacity',
  run({ env }) {
    const problem = capacityProblem(env.values);
    return problem ? [error(problem)] : [];
  },
};

export const stackValidators: Validator[] = [composeConfigValidator, composePolicyValidator, capacityValidator];
