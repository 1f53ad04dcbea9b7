import { defineCli } from '../../cli.js';
import { existingFolder, flag, host, int, oneOf } from '../kinds.js';

export const SPEC = defineCli({
  name: 'generate-certs.ts',
  summary:
    "Create the TLS certificate nginx serves (STATE_DIR/certs: fullchain.pem, privkey.pem, chain.pem, ca.pem). `--mode ca` keeps a local CA in STATE_DIR/ca (never mounted) and signs with it; `--mode self-signed` makes a single self-signed certificate. `--mode import --from DIR` installs a certificate obtained elsewhere (certbot) after checking it. Idempotent: a valid certificate with the same SANs is kept. For Let's Encrypt see docs/edge.md; the cluster's TLS: docs/ha.md.",
  dryRun: true,
  options: {
    mode: { kind: oneOf(['ca', 'self-signed', 'import']), default: 'ca', description: 'who signs the server certificate; import installs one from --from' },
    from: { kind: existingFolder, description: "with --mode import: folder holding fullchain.pem and privkey.pem (certbot's live/<domain>)" },
    san: { kind: host, multiple: true, description: 'extra subject alternative name, DNS name or IP (repeatable); DOMAIN is always included' },
    bits: { kind: int(2048, 8192), default: '2048', description: 'RSA key size' },
    days: { kind: int(1, 825, 'days'), default: '397', description: 'server certificate validity in days' },
    force: { kind: flag, description: 'issue a new server certificate even if the current one is fine (the CA is kept)' },
    profile: {
      kind: oneOf(['server', 'pgbackrest', 'cluster']),
      default: 'server',
      description:
        'server: the nginx certificate; pgbackrest: one server+client certificate per pgBackRest host (CN PGBACKREST_DB_HOST / PGBACKREST_REPO_HOST) in STATE_DIR/pgbackrest/tls/{db,repo}; cluster: per db host of the inventory an etcd and a Patroni/PostgreSQL certificate in STATE_DIR/cluster/tls/<host>/{etcd,postgres}, and the CA alone in STATE_DIR/cluster/ca; all signed by the local CA',
    },
  },
  relations: [
    { option: 'profile=pgbackrest', excludes: ['mode', 'from'], why: 'it always signs with the local CA' },
    { option: 'profile=cluster', excludes: ['mode', 'from'], why: 'it always signs with the local CA' },
    { option: 'from', only: ['mode=import'] },
    { option: 'mode=import', needs: ['from'] },
    { option: 'mode=import', excludes: ['san', 'days', 'bits', 'force'], why: 'an imported certificate keeps its own names, key and validity' },
  ],
  examples: [
    'npx tsx scripts/generate-certs.ts --env dev --mode self-signed',
    'npx tsx scripts/generate-certs.ts --env prod --mode ca --san api.internal.example.org --dry-run',
    'npx tsx scripts/generate-certs.ts --env prod --mode import --from /var/lib/healthmate/letsencrypt/live/api.example.org',
    'npx tsx scripts/generate-certs.ts --env prod --profile pgbackrest',
    'npx tsx scripts/generate-certs.ts --env prod --profile cluster --dry-run',
  ],
});
