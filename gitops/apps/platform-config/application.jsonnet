// Platform-wide settings and access: self-heal, a manual change is reverted within seconds.
{
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Application',
  metadata: {
    name: 'platform-config',
    namespace: 'argocd',
    finalizers: ['resources-finalizer.argocd.argoproj.io'],
    labels: { 'platform.example/sync-policy': 'self-heal' },
  },
  spec: {
    project: 'platform',
    source: {
      repoURL: std.extVar('repoURL'),
      targetRevision: std.extVar('revision'),
      path: 'gitops/apps/platform-config/manifests',
    },
    destination: { server: 'https://kubernetes.default.svc', namespace: 'platform' },
    syncPolicy: {
      automated: { prune: true, selfHeal: true },
      syncOptions: ['ServerSideApply=true'],
      retry: { limit: 5, backoff: { duration: '5s', factor: 2, maxDuration: '1m' } },
    },
  },
}
