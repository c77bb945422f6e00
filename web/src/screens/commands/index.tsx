// W4: /commands — kubectl through the platform, with the caller's history.
import type { RouteObject } from 'react-router-dom';
import { CommandsScreen } from './CommandsScreen';

export const routes: RouteObject[] = [{ path: 'commands', element: <CommandsScreen /> }];
