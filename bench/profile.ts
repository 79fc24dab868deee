import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

/**
 * Runs `fn` under the V8 CPU profiler of this (the main) thread, writes the profile to `file`
 * (open it in Chrome DevTools or speedscope) and returns it with `fn`'s result.
 */
export async function withCpuProfile<T>(
  file: string,
  fn: () => Promise<T>,
): Promise<{ result: T; profile: CpuProfile }> {
  const session = new Session();
  session.connect();
  try {
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval', { interval: 100 });
    await post(session, 'Profiler.start');
    const result = await fn();
    const { profile } = await post<{ profile: CpuProfile }>(session, 'Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    return { result, profile };
  } finally {
    session.disconnect();
  }
}

/** Where a frame's code lives, coarsely: a package, a project folder, or node itself. */
function area(url: string, root: string): string {
  if (url === '') return '(native / vm)';
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(deps\/)?/, 'node:');
  const file = url.startsWith('file://') ? url.slice('file://'.length) : url;
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + '/node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    if (pkg === '@hubspot/api-client') return `${pkg}/${rest.slice(2, 4).join('/')}`;
    return pkg ?? file;
  }
  if (file.startsWith(root)) return path.relative(root, file);
  return file;
}

/**
 * Self time by code area and by function, and total (inclusive) time by function, counting a
 * function once per sample however deep it recurs: the top `top` of each, as printable lines.
 * Inclusive time follows synchronous stacks only: code after an `await` runs from a microtask.
 */
export function profileReport(profile: CpuProfile, root: string, top = 15): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // No line numbers: under tsx they are those of the transformed code.
  const key = (node: ProfileNode) =>
    `${node.callFrame.functionName || '(anonymous)'} ${area(node.callFrame.url, root)}`;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
  let total = 0;
  for (let i = 0; i < samples.length; i += 1) {
    const us = deltas[i] ?? 0;
    const node = byId.get(samples[i] ?? -1);
    if (!node) continue;
    total += us;
    const fn = node.callFrame.functionName;
    add(areas, fn.startsWith('(') ? fn : area(node.callFrame.url, root), us);
    add(self, key(node), us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (!n || n.callFrame.functionName === '(root)') continue;
      const k = key(n);
      if (!seen.has(k)) {
        seen.add(k);
        add(inclusive, k, us);
      }
    }
  }
  const lines = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${((100 * us) / (total || 1)).toFixed(1).padStart(5)}%  ${k}`);
  return [
    `main-thread CPU profile: ${(total / 1000).toFixed(0)} ms sampled (idle included)`,
    'self time by area:',
    ...lines(areas),
    'self time by function:',
    ...lines(self),
    'total time by function (synchronous stacks):',
    ...lines(inclusive),
  ];
}
