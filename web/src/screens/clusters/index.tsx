// The clusters area (W1): the list, topology, registration by kubeconfig, a cluster.
import type { RouteObject } from 'react-router-dom';
import ClusterDetail from './ClusterDetail';
import ClusterList from './ClusterList';
import RegisterCluster from './RegisterCluster';
import Topology from './Topology';
import './clusters.css';

export const routes: RouteObject[] = [
  { path: 'clusters', element: <ClusterList /> },
  { path: 'clusters/topology', element: <Topology /> },
  { path: 'clusters/new', element: <RegisterCluster /> },
  { path: 'clusters/:id', element: <ClusterDetail /> },
];
