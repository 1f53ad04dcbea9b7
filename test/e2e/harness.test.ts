import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerdRecords, inPool } from '../helpers/harness-records.js';
import { assertNoForeignDaemon, startDockerd } from './harness/dockerd.js';
import { debianMirror } from './harness/images.js';

/** The harness's own promises: it only ever talks to the daemon it started, and leaves nothing behind. */
describe('e2e harness', () => {
  const saved = process.env.DOCKER_HOST;
  afterEach(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  });

  it('refuses to run when DOCKER_HOST points at another daemon', async () => {
    process.env.DOCKER_HOST = 'unix:///var/run/docker.sock';
    expect(() => assertNoForeignDaemon()).toThrow(/only talks to the dockerd it starts/);
    await expect(startDockerd()).rejects.toThrow(/DOCKER_HOST/);
  });

  it('starts a private dockerd on its own socket and removes every trace when stopped', async () => {
    delete process.env.DOCKER_HOST;
    const daemon = await startDockerd();
    const pid = Number(readFileSync(`${daemon.root}/dockerd.pid`, 'utf8'));
    let stopped = false;
    try {
      const info = spawnSync('docker', ['info', '--format', '{{.DockerRootDir}} {{.Name}}'], { env: daemon.env, encoding: 'utf8' });
      expect(info.stdout).toContain(`${daemon.root}/data`);
      // A container on a compose-style network gets an address from this run's slice of 198.18.0.0/16.
      const network = spawnSync('docker', ['network', 'create', 'probe'], { env: daemon.env, encoding: 'utf8' });
      expect(network.status, network.stderr).toBe(0);
      const subnet = spawnSync('docker', ['network', 'inspect', 'probe', '--format', '{{(index .IPAM.Config 0).Subnet}}'], {
        env: daemon.env,
        encoding: 'utf8',
      });
      expect(inPool(subnet.stdout.trim(), daemon.pool)).toBe(true);
      const probeId = spawnSync('docker', ['network', 'inspect', 'probe', '--format', '{{.Id}}'], { env: daemon.env, encoding: 'utf8' }).stdout.trim();
      await daemon.stop();
      stopped = true;
      // Its record for the run's leftovers check: its folder, its pool, and the probe network's bridge.
      expect(dockerdRecords(tmpdir()).find((r) => r.root === daemon.root)).toMatchObject({ pool: daemon.pool, bridges: [`br-${probeId.slice(0, 12)}`] });
      expect(existsSync(daemon.root)).toBe(false);
      expect(existsSync(`/proc/${pid}`) && !/ Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(false);
      expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(daemon.root);
      // The probe network was never removed: its bridge must not outlive the daemon either.
      const addresses = [...(spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '').matchAll(/ inet (\S+)/g)].map(
        (m) => m[1] as string,
      );
      expect(addresses.filter((address) => inPool(address, daemon.pool))).toEqual([]);
    } finally {
      if (!stopped) await daemon.stop();
    }
  });

  it('builds the base image from the Debian mirror apt is configured with', () => {
    expect(debianMirror()).toMatch(/^https?:\/\/\S+\/debian\/?$/);
  });
});
