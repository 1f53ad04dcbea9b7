/**
 * JSON schemas of the CloudNativePG and Barman Cloud Plugin fields HealthMate
 * uses, written from the operators' API references (CloudNativePG 1.26/1.27
 * postgresql.cnpg.io/v1, plugin-barman-cloud barmancloud.cnpg.io/v1). No npm
 * package carries these CRDs. Unlike the kubernetes-models schemas they
 * refuse unknown fields (additionalProperties: false): a field we do not
 * know is either a typo or a feature to add here on purpose, after reading
 * its reference. That also refuses the in-tree `backup.barmanObjectStore`,
 * deprecated since CloudNativePG 1.26 in favour of the plugin.
 */

type Schema = Record<string, unknown>;

const strict = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...(required.length > 0 ? { required } : {}),
});
const str: Schema = { type: 'string', minLength: 1 };
const bool: Schema = { type: 'boolean' };
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
/** A Kubernetes quantity: 1, "500m", "4Gi". */
const quantity: Schema = { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$' }] };
const resourceList = strict({ cpu: quantity, memory: quantity, 'ephemeral-storage': quantity });
const resources = strict({ requests: resourceList, limits: resourceList });
const localRef = strict({ name: str }, ['name']);
const secretKeyRef = strict({ name: str, key: str }, ['name', 'key']);
const metadata: Schema = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 50 },
    namespace: str,
    labels: stringMap,
    annotations: stringMap,
  },
  required: ['name'],
};
const envVar = strict({ name: str, value: { type: 'string' } }, ['name']);
/** The plugin name and its string parameters, as the Cluster and ScheduledBackup reference a CNPG-I plugin. */
const pluginRef = (extra: Record<string, Schema> = {}): Schema => strict({ name: str, enabled: bool, parameters: stringMap, ...extra }, ['name']);

const kind = (apiVersion: string, name: string, spec: Schema): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties: { apiVersion: { const: apiVersion }, kind: { const: name }, metadata, spec },
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
});

const recoveryTarget = strict({
  targetTime: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}(:?\\d{2})?)$' },
  targetLSN: str,
  targetName: str,
  targetXID: str,
  targetImmediate: bool,
  exclusive: bool,
  backupID: str,
});

const clusterSpec = strict(
  {
    instances: { type: 'integer', minimum: 1 },
    imageName: str,
    imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    primaryUpdateStrategy: { enum: ['unsupervised', 'supervised'] },
    primaryUpdateMethod: { enum: ['switchover', 'restart'] },
    enableSuperuserAccess: bool,
    enablePDB: bool,
    bootstrap: {
      ...strict({
        initdb: strict({
          database: str,
          owner: str,
          secret: localRef,
          encoding: str,
          postInitApplicationSQL: { type: 'array', items: str },
        }),
        recovery: strict({ source: str, database: str, owner: str, secret: localRef, backup: localRef, recoveryTarget }),
      }),
      minProperties: 1,
      maxProperties: 1,
    },
    postgresql: strict({
      parameters: stringMap,
      shared_preload_libraries: { type: 'array', items: str },
      pg_hba: { type: 'array', items: str },
    }),
    storage: strict({ size: quantity, storageClass: str, resizeInVolume: bool }, ['size']),
    walStorage: strict({ size: quantity, storageClass: str, resizeInVolume: bool }, ['size']),
    resources,
    ephemeralVolumesSizeLimit: strict({ shm: quantity, temporaryData: quantity }),
    affinity: strict({
      enablePodAntiAffinity: bool,
      podAntiAffinityType: { enum: ['required', 'preferred'] },
      topologyKey: str,
      nodeSelector: stringMap,
    }),
    monitoring: strict({ enablePodMonitor: bool, disableDefaultQueries: bool }),
    plugins: { type: 'array', items: pluginRef({ isWALArchiver: bool }) },
    externalClusters: {
      type: 'array',
      items: strict({ name: str, plugin: pluginRef(), connectionParameters: stringMap, password: secretKeyRef }, ['name']),
    },
    inheritedMetadata: strict({ labels: stringMap, annotations: stringMap }),
    env: { type: 'array', items: envVar },
  },
  ['instances', 'storage'],
);

const scheduledBackupSpec: Schema = {
  ...strict(
    {
      // Six fields, seconds first (robfig/cron), unlike a Kubernetes CronJob.
      schedule: { type: 'string', pattern: '^\\S+( \\S+){5}$' },
      cluster: localRef,
      method: { enum: ['barmanObjectStore', 'volumeSnapshot', 'plugin'] },
      pluginConfiguration: pluginRef(),
      immediate: bool,
      suspend: bool,
      backupOwnerReference: { enum: ['none', 'self', 'cluster'] },
      target: { enum: ['primary', 'prefer-standby'] },
    },
    ['schedule', 'cluster'],
  ),
  // method plugin needs pluginConfiguration (which plugin takes the backup).
  anyOf: [{ not: { properties: { method: { const: 'plugin' } }, required: ['method'] } }, { required: ['pluginConfiguration'] }],
};

const compression = { enum: ['bzip2', 'gzip', 'lz4', 'snappy', 'xz', 'zstd'] };
const encryption = { enum: ['AES256', 'aws:kms'] };

const objectStoreSpec = strict(
  {
    configuration: strict(
      {
        destinationPath: { type: 'string', pattern: '^(s3|gs|https?)://\\S+$' },
        endpointURL: { type: 'string', pattern: '^https?://\\S+$' },
        endpointCA: secretKeyRef,
        // Kept for API compatibility with the in-tree form; the plugin needs it empty.
        serverName: { const: '' },
        s3Credentials: strict({
          accessKeyId: secretKeyRef,
          secretAccessKey: secretKeyRef,
          region: secretKeyRef,
          sessionToken: secretKeyRef,
          inheritFromIAMRole: bool,
        }),
        wal: strict({ compression, encryption, maxParallel: { type: 'integer', minimum: 1 } }),
        data: strict({ compression, encryption, jobs: { type: 'integer', minimum: 1 }, immediateCheckpoint: bool }),
        tags: stringMap,
        historyTags: stringMap,
      },
      ['destinationPath'],
    ),
    // Barman's recovery window: days, weeks or months.
    retentionPolicy: { type: 'string', pattern: '^[1-9][0-9]*[dwm]$' },
    instanceSidecarConfiguration: strict({
      resources,
      env: { type: 'array', items: envVar },
      retentionPolicyIntervalSeconds: { type: 'integer', minimum: 1 },
    }),
  },
  ['configuration'],
);

/** apiVersion/kind → JSON schema. */
export const CNPG_SCHEMAS: Record<string, Schema> = {
  'postgresql.cnpg.io/v1/Cluster': kind('postgresql.cnpg.io/v1', 'Cluster', clusterSpec),
  'postgresql.cnpg.io/v1/ScheduledBackup': kind('postgresql.cnpg.io/v1', 'ScheduledBackup', scheduledBackupSpec),
  'barmancloud.cnpg.io/v1/ObjectStore': kind('barmancloud.cnpg.io/v1', 'ObjectStore', objectStoreSpec),
};

/** Operator versions these schemas are written for (docs/kubernetes.md says the same). */
export const CNPG_VERSIONS = 'CloudNativePG 1.26+ (postgresql.cnpg.io/v1), Barman Cloud Plugin 0.5+ (barmancloud.cnpg.io/v1)';
