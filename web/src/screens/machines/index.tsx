// The machines area (W3): the inventory, a machine, the create-cluster wizard, a create
// task's live timeline, and expanding a created cluster.
import type { RouteObject } from 'react-router-dom';
import { ExpandPage } from './ExpandPage';
import { MachineDetail } from './MachineDetail';
import { MachineList } from './MachineList';
import { TaskPage } from './TaskPage';
import { Wizard } from './Wizard';
import './machines.css';

export const routes: RouteObject[] = [
  { path: 'machines', element: <MachineList /> },
  { path: 'machines/:id', element: <MachineDetail /> },
  { path: 'provision/new', element: <Wizard /> },
  { path: 'provision/tasks/:id', element: <TaskPage /> },
  { path: 'clusters/:id/expand', element: <ExpandPage /> },
];
