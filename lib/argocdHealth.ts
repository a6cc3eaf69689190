// Argo CD settings the platform adds to argocd-cm, in both install modes (docs/adr/0010).
//
// Deployment health. Argo CD's built-in check calls a Deployment whose every pod turned unready
// after a finished rollout "Progressing" (it only turns Degraded on ProgressDeadlineExceeded, i.e.
// during a rollout). A faulty config value that makes the running pods fail their readiness probe
// is an outage, not progress: this check reports it Degraded. Everything else follows the
// built-in rules (gitops-engine pkg/health/health_deployment.go), so a rollout still reads
// Progressing, a stuck one Degraded, and a Deployment is Healthy only when its pods are ready.
export const DEPLOYMENT_HEALTH_LUA = `hs = {}
if obj.spec.paused then
  hs.status = "Suspended"
  hs.message = "Deployment is paused"
  return hs
end
local st = obj.status or {}
if (obj.metadata.generation or 0) > (st.observedGeneration or 0) then
  hs.status = "Progressing"
  hs.message = "Waiting for rollout to finish: observed deployment generation less than desired generation"
  return hs
end
local want = obj.spec.replicas or 1
local updated = st.updatedReplicas or 0
local available = st.availableReplicas or 0
local progressing = nil
for _, c in ipairs(st.conditions or {}) do
  if c.type == "Progressing" then progressing = c end
end
if progressing ~= nil and progressing.reason == "ProgressDeadlineExceeded" then
  hs.status = "Degraded"
  hs.message = progressing.message
  return hs
end
if want > 0 and available == 0 and progressing ~= nil and progressing.reason == "NewReplicaSetAvailable" then
  hs.status = "Degraded"
  hs.message = "no replica is available (0 of " .. want .. " ready) after the rollout finished"
  return hs
end
if updated < want then
  hs.status = "Progressing"
  hs.message = "Waiting for rollout to finish: " .. updated .. " out of " .. want .. " new replicas have been updated..."
  return hs
end
if (st.replicas or 0) > updated then
  hs.status = "Progressing"
  hs.message = "Waiting for rollout to finish: " .. ((st.replicas or 0) - updated) .. " old replicas are pending termination..."
  return hs
end
if available < updated then
  hs.status = "Progressing"
  hs.message = "Waiting for rollout to finish: " .. available .. " of " .. updated .. " updated replicas are available..."
  return hs
end
hs.status = "Healthy"
return hs
`;

/** argocd-cm data keys the platform sets (merged over the release's own argocd-cm). */
export const ARGOCD_CM_SETTINGS: Record<string, string> = {
  "resource.customizations.health.apps_Deployment": DEPLOYMENT_HEALTH_LUA,
};
