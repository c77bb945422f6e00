// Add a machine: address, SSH credentials (write-only: sent once, never read back), role.
import { type FormEvent, useState } from 'react';
import { ApiError } from '../../api/client';
import { ErrorBanner, FormField } from '../../ui';
import { type MachineDetail, type MachineIn, fieldOf, machinesApi } from './api';
import { useM } from './useM';

const ROLES = ['master', 'worker', 'etcd', 'registry'] as const;
const FIELDS = [
  'name',
  'ip_address',
  'port',
  'user',
  'role',
  'internal_address',
  'password',
  'private_key',
  'passphrase',
  'host_key',
  'labels',
];

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const at = trimmed.indexOf('=');
    if (at < 0) labels[trimmed] = '';
    else labels[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  }
  return labels;
}

export function MachineForm(props: {
  onCreated: (m: MachineDetail) => void;
  onCancel: () => void;
}) {
  const m = useM();
  const [name, setName] = useState('');
  const [address, setAddress] = useState('');
  const [internal, setInternal] = useState('');
  const [port, setPort] = useState('22');
  const [user, setUser] = useState('root');
  const [auth, setAuth] = useState<'password' | 'key'>('password');
  const [password, setPassword] = useState('');
  const [privateKey, setPrivateKey] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [hostKey, setHostKey] = useState('');
  const [role, setRole] = useState<MachineIn['role']>('worker');
  const [labels, setLabels] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const named = error ? fieldOf(error.message) : null;
  const field = named ? (FIELDS.find((f) => named === f || named.startsWith(`${f}.`)) ?? null) : null;
  const errorFor = (name: string): string | null =>
    error && field === name ? error.message : null;

  async function submit(e: FormEvent): Promise<void> {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: MachineIn = {
      name: name.trim(),
      ip_address: address.trim(),
      internal_address: internal.trim() || null,
      port: Number(port),
      user: user.trim(),
      role,
      labels: parseLabels(labels),
    } as MachineIn;
    if (auth === 'password') body.password = password;
    else {
      body.private_key = privateKey;
      if (passphrase) body.passphrase = passphrase;
    }
    if (hostKey.trim()) body.host_key = hostKey.trim();
    try {
      const created = await machinesApi.create(body);
      // The secrets leave the page's memory once sent.
      setPassword('');
      setPrivateKey('');
      setPassphrase('');
      props.onCreated(created);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 0, String(err)));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="mx-form" onSubmit={(e) => void submit(e)} aria-labelledby="mx-add-title">
      <h2 id="mx-add-title">{m.addMachine}</h2>
      <p className="mx-hint">{m.addMachineIntro}</p>
      {error && !field ? <ErrorBanner error={error} /> : null}
      <div className="mx-grid">
        <FormField label={m.name} error={errorFor('name')}>
          {(f) => (
            <input
              {...f}
              name="name"
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </FormField>
        <FormField label={m.address} error={errorFor('ip_address')}>
          {(f) => (
            <input
              {...f}
              name="ip_address"
              required
              value={address}
              onChange={(e) => setAddress(e.target.value)}
            />
          )}
        </FormField>
        <FormField label={m.port} error={errorFor('port')}>
          {(f) => (
            <input
              {...f}
              name="port"
              inputMode="numeric"
              value={port}
              onChange={(e) => setPort(e.target.value)}
            />
          )}
        </FormField>
        <FormField label={m.user} error={errorFor('user')}>
          {(f) => (
            <input
              {...f}
              name="user"
              autoComplete="off"
              value={user}
              onChange={(e) => setUser(e.target.value)}
            />
          )}
        </FormField>
        <FormField label={m.role} error={errorFor('role')}>
          {(f) => (
            <select
              {...f}
              name="role"
              value={role}
              onChange={(e) => setRole(e.target.value as MachineIn['role'])}
            >
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          )}
        </FormField>
        <FormField
          label={m.internalAddress}
          hint={m.internalAddressHint}
          error={errorFor('internal_address')}
        >
          {(f) => (
            <input
              {...f}
              name="internal_address"
              value={internal}
              onChange={(e) => setInternal(e.target.value)}
            />
          )}
        </FormField>
      </div>
      <fieldset className="mx-auth">
        <legend>{m.auth}</legend>
        <label>
          <input
            type="radio"
            name="auth"
            checked={auth === 'password'}
            onChange={() => setAuth('password')}
          />{' '}
          {m.authPassword}
        </label>
        <label>
          <input type="radio" name="auth" checked={auth === 'key'} onChange={() => setAuth('key')} />{' '}
          {m.authKey}
        </label>
        {auth === 'password' ? (
          <FormField label={m.password} error={errorFor('password')}>
            {(f) => (
              <input
                {...f}
                name="password"
                type="password"
                autoComplete="new-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            )}
          </FormField>
        ) : (
          <>
            <FormField label={m.privateKey} error={errorFor('private_key')}>
              {(f) => (
                <textarea
                  {...f}
                  name="private_key"
                  rows={5}
                  spellCheck={false}
                  autoComplete="off"
                  value={privateKey}
                  onChange={(e) => setPrivateKey(e.target.value)}
                />
              )}
            </FormField>
            <FormField label={m.passphrase} error={errorFor('passphrase')}>
              {(f) => (
                <input
                  {...f}
                  name="passphrase"
                  type="password"
                  autoComplete="new-password"
                  value={passphrase}
                  onChange={(e) => setPassphrase(e.target.value)}
                />
              )}
            </FormField>
          </>
        )}
      </fieldset>
      <div className="mx-grid">
        <FormField label={m.hostKey} hint={m.hostKeyHint} error={errorFor('host_key')}>
          {(f) => (
            <input
              {...f}
              name="host_key"
              spellCheck={false}
              value={hostKey}
              onChange={(e) => setHostKey(e.target.value)}
            />
          )}
        </FormField>
        <FormField label={m.labels} hint={m.labelsHint} error={errorFor('labels')}>
          {(f) => (
            <textarea
              {...f}
              name="labels"
              rows={2}
              value={labels}
              onChange={(e) => setLabels(e.target.value)}
            />
          )}
        </FormField>
      </div>
      <div className="mx-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? m.saving : m.save}
        </button>
        <button type="button" onClick={props.onCancel}>
          {m.cancel}
        </button>
      </div>
    </form>
  );
}
