import { backupHostValues, deriveBackup } from './backup/deriver.js';
import { clusterTargetFiles, clusterValues, deriveCluster } from './cluster/deriver.js';
import { deriveStack } from './compose/deriver.js';
import { hostSetupFiles } from './compose/host-setup.js';
import { composeForRoles } from './compose/roles.js';
import { deriveK8s } from './k8s/deriver.js';
import { prometheusRuleFiles } from './k8s/prometheus-rule.js';
import { deriveEdge } from './nginx/deriver.js';
import { deriveStatePaths } from './paths.js';
import { registerBundleFiles, registerDeriver, registerHostDeriver, registerHostFilter } from './render/derived.js';

/**
 * Every area's template deriver, registered with render (which knows no
 * area). Imported for this effect by everything that renders a bundle.
 */
registerDeriver('state paths', deriveStatePaths);
registerDeriver('edge', deriveEdge);
registerDeriver('backup', deriveBackup);
registerDeriver('stack', deriveStack);
registerDeriver('cluster', deriveCluster);
registerDeriver('k8s', deriveK8s);
// Each host's own values: its etcd and Patroni member, endpoints, TLS folders, published ports.
registerHostDeriver('cluster', clusterValues);
// Each db host's pgBackRest server on its own address, where the repository host dials it.
registerHostDeriver('backup', backupHostValues);
// A host's bundle holds the compose services of its roles, and only what they read.
registerHostFilter('stack', composeForRoles);
// up.sh's owner list and host setup, from the same compose labels the deploy reads.
registerBundleFiles('host setup', hostSetupFiles);
// Prometheus' file_sd targets of the cluster members, from the inventory.
registerBundleFiles('cluster scrape targets', clusterTargetFiles);
// The Prometheus Operator's PrometheusRule, from the rendered rule files promtool tests.
registerBundleFiles('k8s PrometheusRule', prometheusRuleFiles);
