import { deriveBackup } from './backup/deriver.js';
import { clusterTargetFiles, deriveCluster } from './cluster/deriver.js';
import { deriveStack } from './compose/deriver.js';
import { hostSetupFiles } from './compose/host-setup.js';
import { deriveK8s } from './k8s/deriver.js';
import { prometheusRuleFiles } from './k8s/prometheus-rule.js';
import { deriveEdge } from './nginx/deriver.js';
import { deriveStatePaths } from './paths.js';
import { registerBundleFiles, registerDeriver } from './render/derived.js';

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
// up.sh's owner list and host setup, from the same compose labels the deploy reads.
registerBundleFiles('host setup', hostSetupFiles);
// Prometheus' file_sd targets of the cluster members, from the inventory.
registerBundleFiles('cluster scrape targets', clusterTargetFiles);
// The Prometheus Operator's PrometheusRule, from the rendered rule files promtool tests.
registerBundleFiles('k8s PrometheusRule', prometheusRuleFiles);
