// A workload: auto-synced from Git, but manual drift is only reported (no self-heal), so an
// operator sees OutOfSync and decides: resync to Git, or change Git.
{
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Application',
  metadata: {
    name: 'demo',
    namespace: 'argocd',
    finalizers: ['resources-finalizer.argocd.argoproj.io'],
    labels: { 'platform.example/sync-policy': 'report-only' },
  },
  spec: {
    project: 'platform',
    source: {
      repoURL: std.extVar('repoURL'),
      targetRevision: std.extVar('revision'),
      path: 'gitops/apps/demo/manifests',
    },
    destination: { server: 'https://kubernetes.default.svc', namespace: 'demo' },
    syncPolicy: {
      automated: { prune: true, selfHeal: false },
      syncOptions: ['ServerSideApply=true'],
    },
  },
}
