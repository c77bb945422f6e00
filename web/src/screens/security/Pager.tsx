// Previous / next for the API's page+limit lists, with "page i of n" (W4's screens).
import { useT } from '../../i18n'
import { messages } from './messages'

export function Pager(props: {
  page: number
  limit: number
  total: number
  onPage: (page: number) => void
  label: string
}) {
  const t = useT(messages)
  const pages = Math.max(1, Math.ceil(props.total / props.limit))
  if (pages <= 1) return null
  return (
    <nav className="w4-pager" aria-label={props.label}>
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        {t('previous')}
      </button>
      <span>{t('page', { page: props.page, pages })}</span>
      <button
        type="button"
        disabled={props.page >= pages}
        onClick={() => props.onPage(props.page + 1)}
      >
        {t('next')}
      </button>
    </nav>
  )
}
