// W4: /security/traffic, /security/anomalies, /security/blacklist (administrators).
import type { RouteObject } from 'react-router-dom';
import { SecurityScreen, VIEWS } from './SecurityScreen';

export const routes: RouteObject[] = VIEWS.map((view) => ({
  path: `security/${view}`,
  element: <SecurityScreen view={view} />,
}));
