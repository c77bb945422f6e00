// Typed calls of the machines, create tasks, artifacts and expansion endpoints
// (types generated from the platform's own /api/openapi.json).
import { api } from '../../api/client';
import type { components } from '../../api/schema';

type S = components['schemas'];
export type MachineSummary = S['MachineSummary'];
export type MachineDetail = S['MachineDetail'];
export type MachineIn = S['MachineIn'];
export type MachineList = S['MachineList'];
export type MachineEventList = S['MachineEventList'];
export type PreflightOut = S['PreflightOut'];
export type CheckOut = S['CheckOut'];
export type StatusOut = S['StatusOut'];
export type CheckQueued = S['CheckQueued'];
export type ArtifactList = S['ArtifactList'];
export type ArtifactSummary = S['ArtifactSummary'];
export type CreateClusterIn = S['CreateClusterIn'];
export type CreateTaskCreated = S['CreateTaskCreated'];
export type CreateTaskDetail = S['CreateTaskDetail'];
export type CreateTaskList = S['CreateTaskList'];
export type ExpansionIn = S['ExpansionIn'];
export type ExpansionOut = S['ExpansionOut'];
export type ExpansionDetail = S['ExpansionDetail'];
export type ExpansionHistory = S['ExpansionHistory'];
export type ClusterDetail = S['ClusterDetail'];

const id = (value: string): string => encodeURIComponent(value);

export const machinesApi = {
  list: (query: { status?: string; search?: string; role?: string; limit?: number }) => {
    const params = new URLSearchParams({ page: '1', limit: String(query.limit ?? 100) });
    if (query.status) params.set('status', query.status);
    if (query.search) params.set('search', query.search);
    if (query.role) params.set('role', query.role);
    return api.get<MachineList>(`/machines?${params.toString()}`);
  },
  get: (machineId: string) => api.get<MachineDetail>(`/machines/${id(machineId)}`),
  create: (body: MachineIn) => api.post<MachineDetail>('/machines', body),
  update: (machineId: string, body: MachineIn) =>
    api.put<MachineDetail>(`/machines/${id(machineId)}`, body),
  remove: (machineId: string) => api.delete<{ message: string }>(`/machines/${id(machineId)}`),
  setStatus: (machineId: string, status: string, message: string) =>
    api.put<StatusOut>(`/machines/${id(machineId)}/status`, { status, message }),
  check: (machineId: string) => api.post<CheckQueued>(`/machines/${id(machineId)}/check`),
  events: (machineId: string) =>
    api.get<MachineEventList>(`/machines/${id(machineId)}/events?page=1&limit=50`),
  preflightOne: (machineId: string, role?: string) =>
    api.post<PreflightOut>(`/machines/${id(machineId)}/preflight`, role ? { role } : {}),
  preflightSet: (machineIds: string[], roles: Record<string, string>) =>
    api.post<PreflightOut>('/machines/preflight', { machine_ids: machineIds, roles }),
};

export const provisionApi = {
  artifacts: () => api.get<ArtifactList>('/artifacts?page=1&limit=100'),
  create: (body: CreateClusterIn) => api.post<CreateTaskCreated>('/clusters/create', body),
  tasks: () => api.get<CreateTaskList>('/create-tasks?page=1&limit=20'),
  task: (taskId: string) => api.get<CreateTaskDetail>(`/create-tasks/${id(taskId)}`),
  retry: (taskId: string) => api.post<CreateTaskDetail>(`/create-tasks/${id(taskId)}/retry`),
  cancel: (taskId: string) => api.post<CreateTaskDetail>(`/create-tasks/${id(taskId)}/cancel`),
};

export const expansionApi = {
  cluster: (clusterId: string) => api.get<ClusterDetail>(`/clusters/${id(clusterId)}`),
  request: (clusterId: string, body: ExpansionIn) =>
    api.post<ExpansionOut>(`/clusters/${id(clusterId)}/expansion`, body),
  history: (clusterId: string) =>
    api.get<ExpansionHistory>(`/clusters/${id(clusterId)}/expansion/history`),
  get: (clusterId: string, expansionId: string) =>
    api.get<ExpansionDetail>(`/clusters/${id(clusterId)}/expansion/${id(expansionId)}`),
  cancel: (clusterId: string, expansionId: string) =>
    api.post<ExpansionDetail>(`/clusters/${id(clusterId)}/expansion/${id(expansionId)}/cancel`),
};

export { fieldOf } from '../../api/client';
export { format as fmt } from '../../i18n';
