// The console's UI kit (W0): import from '../../ui'.
export { DataTable, type Column, type DataTableProps } from './DataTable';
export { ConfirmDialog, Dialog, type ConfirmDialogProps, type DialogProps } from './Dialog';
export { ErrorBanner } from './ErrorBanner';
export { FormField, type FieldControlProps, type FormFieldProps } from './FormField';
export { useAsync, usePolling, type AsyncState } from './hooks';
export { LanguageSwitch, Layout } from './Layout';
export { LineChart, Meter, type LineChartProps, type MeterProps, type Point, type Series } from './charts';
export { Page, Placeholder } from './Page';
export { Progress, type ProgressProps } from './Progress';
export { StatusBadge, statusTone } from './StatusBadge';
export { Tabs, type Tab, type TabsProps } from './Tabs';
