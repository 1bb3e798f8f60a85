/** Plain-text renderings of the CLI's results: aligned tables, human sizes and ages. */
import type { LineageStatus } from '../../shared/domain/fleet-status.js';
import type { RegionView } from '../../shared/use-cases/inspect-fleet.js';
import type { StaleEntry, StaleReport } from '../../shared/domain/stale.js';
import type { RotationRun } from '../../shared/use-cases/rotate-images.js';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function age(hours: number): string {
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours < 48) return `${Math.round(hours)} h`;
  return `${Math.round(hours / 24)} d`;
}

/** `status`: one row per lineage, then the problems, lineage by lineage. */
export function statusTable(lineages: readonly LineageStatus[]): string {
  if (lineages.length === 0) return 'no lineages: no instance is opted in and no image of this stack exists';
  const rows = lineages.map((l) => [
    l.lineage,
    l.name ?? '',
    l.instance?.instanceId ?? '(gone)',
    l.instance?.state ?? '',
    l.schedules.join(',') || '-',
    l.capacityOwner ? `capacity owned by ${l.capacityOwner}` : l.recover,
    l.lastGood ? age(l.lastGood.ageHours) : 'none',
    String(l.images),
    bytes(l.snapshotBytes),
    l.nextRotation.length > 0 ? `delete ${l.nextRotation.length}` : '-',
    l.problems.length > 0 ? String(l.problems.length) : '-',
  ]);
  const out = [
    table(
      ['lineage', 'name', 'instance', 'state', 'schedules', 'recover', 'last good', 'images', 'snapshots', 'next rotation', 'problems'],
      rows,
    ),
  ];
  const troubled = lineages.filter((l) => l.problems.length > 0);
  if (troubled.length > 0) {
    out.push('', 'problems:');
    for (const l of troubled) for (const p of l.problems) out.push(`  ${l.lineage}: ${p}`);
  }
  return out.join('\n');
}

/** `status --region`: each lineage's recovery point in a destination region (issue 17). */
export function recoveryPointsTable(view: RegionView): string {
  if (view.lineages.length === 0) return `no copies of this stack's images in ${view.region}, and none expected there`;
  const rows = view.lineages.map((l) => [
    l.lineage,
    l.schedule ?? '-',
    l.newestGood?.imageId ?? 'none',
    l.newestGood?.sourceImageId ?? '',
    l.newestGood ? `${age(l.newestGood.ageHours)}${l.newestGood.takenFrom === 'copy' ? ' (copy)' : ''}` : '-',
    l.limitHours === undefined ? '-' : `${l.limitHours} h`,
    l.state,
    Object.entries(l.byStatus)
      .map(([status, n]) => `${status} ${n}`)
      .join(', ') || '-',
  ]);
  const out = [
    `recovery points in ${view.region} (copies from ${view.homeRegion})`,
    table(['lineage', 'schedule', 'newest good copy', 'source image', 'age', 'stale after', 'state', 'copies'], rows),
  ];
  const troubled = view.lineages.filter((l) => l.problems.length > 0);
  if (troubled.length > 0) {
    out.push('', 'problems:');
    for (const l of troubled) for (const p of l.problems) out.push(`  ${l.lineage}: ${p}`);
  }
  return out.join('\n');
}

/** `plan`: every image the next rotation would keep or delete, with the reasons. */
export function planText(run: RotationRun): string {
  const { plan } = run;
  if (plan.decisions.length === 0) return 'nothing to plan: this stack has no images';
  const out: string[] = [];
  for (const policy of plan.lineages) {
    out.push(`${policy.lineage}  (${policy.source} policy)`);
    for (const d of plan.decisions.filter((x) => x.lineage === policy.lineage)) {
      out.push(`  ${d.action === 'delete' ? 'DELETE' : 'keep  '}  ${d.imageId}  ${d.name}${d.deprecate ? '  (deprecate)' : ''}`);
      for (const r of d.reasons) out.push(`            ${r}`);
    }
  }
  const others = plan.decisions.filter((d) => !d.lineage);
  for (const d of others) out.push(`${d.action === 'delete' ? 'DELETE' : 'keep  '}  ${d.imageId}  ${d.name}  ${d.reasons.join('; ')}`);
  const deletions = plan.decisions.filter((d) => d.action === 'delete');
  const freed = deletions.flatMap((d) => d.snapshotIds).reduce((sum, id) => sum + (run.snapshotSizes.get(id) ?? 0), 0);
  out.push(
    '',
    `${plan.decisions.length - deletions.length} kept, ${deletions.length} to delete (${bytes(freed)} of snapshots), ${run.orphans.length} orphaned snapshot(s) to sweep${uncleared(run)}`,
  );
  return out.join('\n');
}

/** The candidates kept because DescribeImageReferences could not answer for them, and why. */
function uncleared(run: RotationRun): string {
  if (run.keptUnverified.length === 0) return '';
  const codes = [...new Set(run.keptUnverified.map((k) => k.errorCode))].join(', ');
  return `; ${run.keptUnverified.length} kept because the image reference check could not clear them (${codes})`;
}

/** `stale`'s table: each image, its age, last launch, snapshots, owner, and why it is not a candidate. */
export function staleTable(entries: readonly StaleEntry[]): string {
  return table(['image', 'name', 'age', 'last launched', 'snapshots', 'owner', 'candidate', 'why not / in use by'], entries.map(staleRow));
}

/** One row of `stale`'s table. */
export function staleRow(e: StaleEntry): string[] {
  const owner = e.ownership === 'unmanaged' ? '' : e.ownership;
  return [
    e.imageId,
    e.name,
    `${e.ageDays} d`,
    e.lastLaunchedTime ? e.lastLaunchedTime.slice(0, 10) : 'never',
    `${e.snapshots.length} (${bytes(e.sizeBytes)})`,
    owner,
    e.candidate ? 'yes' : 'no',
    e.notCandidate.join('; '),
  ];
}

/** The line under `stale`'s table: the candidates and what deleting them would save. */
export function staleSummary(owned: number, listed: number, report: StaleReport): string {
  return (
    `${owned} image(s) owned, ${listed} shown, ${report.candidates} candidate(s): deleting them would free ${bytes(report.bytesToFree)} of snapshots, ` +
    `about $${report.monthlySaving.toFixed(2)} a month at $${report.pricePerGbMonth} per GB-month (at most: the standard tier bills only the blocks a snapshot holds alone)`
  );
}
