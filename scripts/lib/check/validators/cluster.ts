import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  HAPROXY_CA_FILE,
  HAPROXY_CONFIG,
  PATRONI_CHECK_COPY,
  PATRONI_CONFIG,
  PLACEHOLDER_PASSWORDS,
  patroniCheckCopy,
  standInCaPem,
  testHaproxyConfig,
  testPatroniConfig,
} from '../../cluster/config-test.js';
import { CLUSTER_CONTAINER_PATHS } from '../../cluster/topology.js';
import { pgbackrestImages } from '../../pgbackrest/layout.js';
import { error, type Problem, type Validator } from '../types.js';

const has =
  (file: string) =>
  ({ files }: { files: string[] }) =>
    files.includes(file);
const asProblems = (found: { message: string; file?: string; line?: number }[]): Problem[] => found.map((p) => error(p.message, p.file, p.line));

/** The real HAProxy accepts the rendered haproxy.cfg (haproxy -c), a stand-in where the project CA is mounted. */
export const haproxyConfigValidator: Validator = {
  name: 'haproxy -c',
  tools: ['haproxy'],
  async run(ctx) {
    if (!has(HAPROXY_CONFIG)(ctx)) return [];
    return asProblems(await testHaproxyConfig(ctx.bundleDir));
  },
  inImage: [
    {
      name: 'haproxy',
      label: 'haproxy -c in the haproxy image',
      service: 'haproxy',
      entrypoint: 'haproxy',
      args: ['-c', '-f', `${CLUSTER_CONTAINER_PATHS.HAPROXY_CONFIG_PATH}/haproxy.cfg`],
      when: has(HAPROXY_CONFIG),
      files: async () => ({ [HAPROXY_CA_FILE]: await standInCaPem() }),
    },
  ],
};

/**
 * The real Patroni accepts the rendered patroni.yml (patroni --validate-config): in the postgres
 * image its bin_dir is the image's own PostgreSQL. Patroni dials every etcd member it names; where
 * the check runs they are not, so the copy it reads names a loopback port that answers instead.
 */
export const patroniConfigValidator: Validator = {
  name: 'patroni --validate-config',
  tools: ['patroni'],
  async run(ctx) {
    if (!has(PATRONI_CONFIG)(ctx)) return [];
    return asProblems(await testPatroniConfig(ctx.bundleDir));
  },
  inImage: [
    {
      name: 'patroni',
      label: 'patroni --validate-config in the postgres image',
      service: 'postgres',
      // The deploy builds it (POSTGRES_IMAGE + pgbackrest + patroni); the check builds it first when it is missing.
      planImage: (env) => pgbackrestImages(env.values).db,
      // The container has no network: a listener on etcd's port stands in for the members while Patroni validates.
      entrypoint: 'python3',
      args: ({ env }) => ['-c', IN_IMAGE_VALIDATE, String(env.values.ETCD_CLIENT_PORT), PATRONI_CHECK_COPY],
      shownArgs: ['-c', '<listen on 127.0.0.1:ETCD_CLIENT_PORT, then patroni --validate-config>', PATRONI_CHECK_COPY],
      when: has(PATRONI_CONFIG),
      files: ({ bundleDir, env }) => ({
        [PATRONI_CHECK_COPY]: patroniCheckCopy(readFileSync(join(bundleDir, PATRONI_CONFIG), 'utf8'), { etcd: `127.0.0.1:${env.values.ETCD_CLIENT_PORT}` }),
      }),
    },
  ],
};

/** Listens on 127.0.0.1:<argv 1>, runs patroni --validate-config <argv 2>, exits with its code. */
const IN_IMAGE_VALIDATE = [
  'import os, socket, subprocess, sys',
  's = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)',
  `env = dict(os.environ, ${Object.entries(PLACEHOLDER_PASSWORDS)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')})`,
  'sys.exit(subprocess.call(["patroni", "--validate-config", sys.argv[2]], env=env))',
].join('\n');

export const clusterValidators: Validator[] = [haproxyConfigValidator, patroniConfigValidator];
