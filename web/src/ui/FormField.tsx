import { cloneElement, isValidElement, useId, type ReactElement, type ReactNode } from 'react';

export interface FieldControlProps {
  id: string;
  'aria-describedby'?: string;
  'aria-invalid'?: boolean;
}

export interface FormFieldProps {
  label: string;
  /** The error to show under the control (e.g. an ApiError's message naming this field). */
  error?: string | null;
  hint?: string;
  /** One control (it receives id / aria-describedby / aria-invalid), or a function of them. */
  children: ReactElement<FieldControlProps> | ((props: FieldControlProps) => ReactNode);
}

/** A label, a control, its hint and its error, wired for screen readers. */
export function FormField({ label, error, hint, children }: FormFieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  const props: FieldControlProps = { id, 'aria-describedby': describedBy, 'aria-invalid': error ? true : undefined };
  const control = typeof children === 'function' ? children(props) : isValidElement(children) ? cloneElement(children, props) : children;
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {control}
      {hint && (
        <small id={hintId} className="field-hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={errorId} className="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}
