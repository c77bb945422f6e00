// Types and small helpers shared by the backups screens.
import { useEffect, type RefObject } from 'react';
import { ApiError, type Schema } from '../../api/client';
import { StatusBadge } from '../../ui';
import { useT } from '../../i18n';
import { messages } from './messages';

export type BackupRow = Schema<'BackupOut'>;
export type BackupDetail = Schema<'BackupDetail'>;
export type BackupList = Schema<'BackupList'>;
export type BackupCreate = Schema<'BackupCreate'>;
export type RestoreStatus = Schema<'RestoreStatus'>;
export type RestoreList = Schema<'RestoreList'>;
export type RestoreCreate = Schema<'RestoreCreate'>;
export type BackupSchedule = Schema<'ScheduleOut'>;
export type ScheduleList = Schema<'ScheduleList'>;
export type ScheduleCreate = Schema<'ScheduleCreate'>;
export type ScheduleUpdate = Schema<'ScheduleUpdate'>;

export const BACKUP_TYPES = ['full', 'namespaces', 'etcd'] as const;
/** Statuses of a run that is still going (polled faster). */
export const ACTIVE = ['pending', 'in_progress'];

export const isActive = (status: string): boolean => ACTIVE.includes(status);

/** "a, b c" -> ["a", "b", "c"]; empty -> undefined (the field is left out). */
export function namespaceList(text: string): string[] | undefined {
  const list = text.split(/[\s,]+/).filter(Boolean);
  return list.length ? list : undefined;
}

/** Lines "source=target" (or "source:target") -> a mapping; a line without a target maps
 * to "" so the API names the bad pair. */
export function mappingOf(text: string): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const [source, target = ''] = trimmed.split(/\s*(?:=|:|->)\s*/, 2);
    mapping[source!] = target;
  }
  return mapping;
}

/** An API failure split into the form field its message names (shown under that field)
 * and the rest (shown in the banner). */
export function fieldError<F extends string>(
  error: unknown,
  fields: readonly F[],
): { field: F | null; message: string | null } {
  if (error instanceof ApiError && error.field) {
    const root = error.field.split('.')[0] as F;
    if (fields.includes(root)) return { field: root, message: error.message };
  }
  return { field: null, message: null };
}

/** A backup or restore status as a badge, with the statuses the UI kit does not spell. */
export function RunStatus({ status }: { status: string }) {
  const t = useT(messages);
  const own = status === 'in_progress' || status === 'deleted' ? t(status) : undefined;
  return <StatusBadge status={status} label={own} />;
}

export function errorText(error: unknown): string | null {
  return error ? (error instanceof Error ? error.message : String(error)) : null;
}

/** Focus `ref` once a dialog has opened (after the dialog's own focusing, which would
 * otherwise land on its close button). */
export function useFocusOnOpen(ref: RefObject<HTMLElement | null>, open = true): void {
  useEffect(() => {
    if (!open) return undefined;
    const frame = requestAnimationFrame(() => ref.current?.focus());
    return () => cancelAnimationFrame(frame);
  }, [ref, open]);
}
