import { defineMessages } from '../../i18n';

export const messages = defineMessages({
  en: {
    title: 'Sign in',
    subtitle: 'Multi-cluster Kubernetes management',
    username: 'Username',
    password: 'Password',
    submit: 'Sign in',
    signingIn: 'Signing in…',
    expired: 'Your session ended; sign in again.',
  },
  zh: {
    title: '登录',
    subtitle: '多集群 Kubernetes 管理平台',
    username: '用户名',
    password: '密码',
    submit: '登录',
    signingIn: '正在登录…',
    expired: '会话已结束，请重新登录。',
  },
});
