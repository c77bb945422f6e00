// W4: /users (administrators).
import type { RouteObject } from 'react-router-dom';
import { UsersScreen } from './UsersScreen';

export const routes: RouteObject[] = [{ path: 'users', element: <UsersScreen /> }];
