// /users (administrators): list, create, change role, clear login locks, delete.
import { useCallback, useEffect, useState } from 'react'
import { api, type Schema } from '../../api/client'
import { useAuth } from '../../api/auth'
import { useFormat, useT } from '../../i18n'
import { ConfirmDialog, ErrorBanner, FormField, Page } from '../../ui'
import { Pager } from '../security/Pager'
import '../security/w4.css'
import { messages } from './messages'

type User = Schema<'UserOut'>
type UserList = Schema<'UserList'>
type Role = 'admin' | 'user'

const LIMIT = 50
const EMPTY = { username: '', email: '', password: '', role: 'user' as Role }

export function UsersScreen() {
  const t = useT(messages)
  const { isAdmin } = useAuth()
  return (
    <Page title={t('title')}>
      <div className="w4-screen">
        {isAdmin ? (
          <Users />
        ) : (
          <p className="notice" role="note" data-testid="admins-only">
            {t('adminsOnly')}
          </p>
        )}
      </div>
    </Page>
  )
}

function Users() {
  const t = useT(messages)
  const { user: me } = useAuth()
  const f = useFormat()
  const [filters, setFilters] = useState({ search: '', role: '' })
  const [applied, setApplied] = useState(filters)
  const [page, setPage] = useState(1)
  const [data, setData] = useState<UserList | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [form, setForm] = useState(EMPTY)
  const [saving, setSaving] = useState(false)
  const [formError, setFormError] = useState<unknown>(null)
  const [notice, setNotice] = useState('')
  const [removing, setRemoving] = useState<User | null>(null)

  const load = useCallback(async () => {
    try {
      setData(await api.get<UserList>('/users', { ...applied, page, limit: LIMIT }))
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [applied, page])
  useEffect(() => void load(), [load])

  async function act(work: () => Promise<string>) {
    setError(null)
    setNotice('')
    try {
      setNotice(await work())
      await load()
    } catch (e) {
      setError(e)
    }
  }

  async function create() {
    setSaving(true)
    setFormError(null)
    setNotice('')
    try {
      const body: Record<string, unknown> = {
        username: form.username.trim(),
        password: form.password,
        role: form.role,
      }
      if (form.email.trim()) body.email = form.email.trim()
      await api.post('/auth/register', body)
      setNotice(t('created', { name: String(body.username) }))
      setForm(EMPTY)
      await load()
    } catch (e) {
      setFormError(e)
    } finally {
      setSaving(false)
    }
  }

  return (
    <>
      <h2 id="users-create">{t('create')}</h2>
      <form
        className="w4-filters"
        aria-labelledby="users-create"
        onSubmit={(event) => {
          event.preventDefault()
          void create()
        }}
      >
        <FormField label={t('username')} hint={t('usernameHelp')}>
          <input
            value={form.username}
            required
            autoComplete="off"
            onChange={(e) => setForm({ ...form, username: e.target.value })}
          />
        </FormField>
        <FormField label={t('email')}>
          <input
            type="email"
            value={form.email}
            autoComplete="off"
            onChange={(e) => setForm({ ...form, email: e.target.value })}
          />
        </FormField>
        <FormField label={t('password')} hint={t('passwordHelp')}>
          <input
            type="password"
            value={form.password}
            required
            autoComplete="new-password"
            onChange={(e) => setForm({ ...form, password: e.target.value })}
          />
        </FormField>
        <FormField label={t('role')}>
          <select
            value={form.role}
            onChange={(e) => setForm({ ...form, role: e.target.value as Role })}
          >
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        </FormField>
        <button type="submit" disabled={saving}>
          {saving ? t('saving') : t('save')}
        </button>
      </form>
      {formError ? <ErrorBanner error={formError} /> : null}
      <p role="status" className="w4-notice" data-testid="notice">
        {notice}
      </p>

      <h2 id="users-list">{t('users')}</h2>
      <p className="w4-muted">{t('notInApi')}</p>
      <form
        className="w4-filters"
        aria-label={t('filter')}
        onSubmit={(event) => {
          event.preventDefault()
          setPage(1)
          setApplied({ ...filters, search: filters.search.trim() })
        }}
      >
        <FormField label={t('search')}>
          <input
            type="search"
            value={filters.search}
            onChange={(e) => setFilters({ ...filters, search: e.target.value })}
          />
        </FormField>
        <FormField label={t('role')}>
          <select
            value={filters.role}
            onChange={(e) => setFilters({ ...filters, role: e.target.value })}
          >
            <option value="">{t('anyRole')}</option>
            <option value="admin">admin</option>
            <option value="user">user</option>
          </select>
        </FormField>
        <button type="submit">{t('filter')}</button>
      </form>
      {error ? <ErrorBanner error={error} /> : null}
      {data ? <p className="w4-muted">{t('total', { n: data.total })}</p> : null}
      {data && data.users.length === 0 ? <p className="w4-muted">{t('noUsers')}</p> : null}
      {data && data.users.length ? (
        <div className="w4-table-wrap">
          <table className="w4-table" aria-labelledby="users-list" data-testid="users">
            <thead>
              <tr>
                <th scope="col">{t('username')}</th>
                <th scope="col">{t('emailCol')}</th>
                <th scope="col">{t('role')}</th>
                <th scope="col">{t('lastLogin')}</th>
                <th scope="col">{t('createdAt')}</th>
                <th scope="col">{t('actions')}</th>
              </tr>
            </thead>
            <tbody>
              {data.users.map((u) => (
                <tr key={u.id} data-username={u.username}>
                  <td>
                    {u.username} {u.id === me?.id ? t('you') : null}
                    {u.password_change_required ? (
                      <span className="w4-status w4-status-monitor">{t('mustChange')}</span>
                    ) : null}
                  </td>
                  <td>{u.email ?? ''}</td>
                  <td>
                    <RoleCell
                      user={u}
                      onSave={(role) =>
                        void act(async () => {
                          await api.put(`/users/${u.id}`, { role })
                          return t('updated', { name: u.username, role })
                        })
                      }
                    />
                  </td>
                  <td>{u.last_login_at ? f.dateTime(u.last_login_at) : t('never')}</td>
                  <td>{f.dateTime(u.created_at)}</td>
                  <td className="w4-actions">
                    <button
                      type="button"
                      aria-label={t('unlockOf', { name: u.username })}
                      onClick={() =>
                        void act(async () => {
                          await api.post(`/users/${u.id}/unlock`)
                          return t('unlocked', { name: u.username })
                        })
                      }
                    >
                      {t('unlock')}
                    </button>
                    <button
                      type="button"
                      className="w4-danger"
                      aria-label={t('removeOf', { name: u.username })}
                      onClick={() => setRemoving(u)}
                    >
                      {t('remove')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {data ? (
        <Pager page={page} limit={LIMIT} total={data.total} onPage={setPage} label={t('users')} />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={t('removeTitle', { name: removing.username })}
          confirmLabel={t('confirmRemove')}
          onCancel={() => setRemoving(null)}
          onConfirm={() => {
            const target = removing
            setRemoving(null)
            void act(async () => {
              await api.delete(`/users/${target.id}`)
              return t('deleted', { name: target.username })
            })
          }}
        >
          <p>{t('removeBody')}</p>
        </ConfirmDialog>
      ) : null}
    </>
  )
}

/** A role is changed on purpose: choosing one (arrow keys change a select at once) shows
 * the button that saves it. */
function RoleCell({ user, onSave }: { user: User; onSave: (role: string) => void }) {
  const t = useT(messages)
  const [role, setRole] = useState(user.role)
  useEffect(() => setRole(user.role), [user.role])
  return (
    <span className="w4-actions">
      <select
        value={role}
        aria-label={t('setRole', { name: user.username })}
        onChange={(e) => setRole(e.target.value)}
      >
        <option value="user">user</option>
        <option value="admin">admin</option>
      </select>
      {role !== user.role ? (
        <button
          type="button"
          className="primary"
          aria-label={t('saveRoleOf', { name: user.username })}
          onClick={() => onSave(role)}
        >
          {t('saveRole')}
        </button>
      ) : null}
    </span>
  )
}
