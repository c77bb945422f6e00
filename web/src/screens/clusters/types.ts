// The clusters area's API shapes, from the generated contract (web/src/api/schema.ts).
import type { components } from '../../api/schema';

type S = components['schemas'];
export type ClusterSummary = S['ClusterSummary'];
export type ClusterDetail = S['ClusterDetail'];
export type ClusterList = S['ClusterList'];
export type Topology = S['Topology'];
export type ImportOut = S['ImportOut'];
export type ImportStatus = S['ImportStatusOut'];
export type ImportRequest = S['ClusterImportRequest'];
export type NodeOut = S['NodeOut'];
export type NodeList = S['NodeList'];
export type NodeDetail = S['NodeDetail'];
export type EventList = S['EventList'];
export type EventOut = S['EventOut'];
export type SecurityPolicies = S['SecurityPolicies'];
export type AutoscalingPolicies = S['AutoscalingPolicies'];
export type AutoscalingUpdate = S['AutoscalingUpdate'];
export type AutoscalingSettingsOut = S['AutoscalingSettingsOut'];
export type AuditEventList = S['AuditEventList'];
export type AuditEvent = S['AuditEventOut'];
export type RuntimeResources = S['RuntimeResources'];

export const CLUSTER_STATUSES = [
  'unknown',
  'pending',
  'healthy',
  'unhealthy',
  'disconnected',
  'error',
  'maintenance',
] as const;
export const ENVIRONMENTS = ['production', 'staging', 'testing', 'development', 'default'] as const;
export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
