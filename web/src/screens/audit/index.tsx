// W4: /audit (administrators).
import type { RouteObject } from 'react-router-dom';
import { AuditScreen } from './AuditScreen';

export const routes: RouteObject[] = [{ path: 'audit', element: <AuditScreen /> }];
