import type { RunningService } from './service-process.js';

/** Sum of a metric's samples at a /metrics endpoint whose labels include every pair in `labels` (0 when absent). */
export async function metricAt(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const url = `http://127.0.0.1:${port}/metrics`;
  // One retry: a kept-alive socket the server closed after its idle timeout fails the first request
  // that reuses it ("other side closed"), which a slow test step between two scrapes can hit.
  const text = await fetch(url).then((r) => r.text(), () => fetch(url).then((r) => r.text()));
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The same for a service started with startService. */
export async function metricValue(service: RunningService, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricAt(await service.metricsPort(), name, labels);
}
