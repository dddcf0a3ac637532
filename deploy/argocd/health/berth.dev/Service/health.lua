-- Argo CD health of a berth.dev Service. Uses only the base and table
-- libraries: Argo CD opens no others for argocd-cm scripts.
local hs = {status = "Progressing", message = "Waiting for controller"}
if obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Pending deletion"
  return hs
end
local status = obj.status
if status == nil or status.observedGeneration == nil then
  return hs
end
if status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for reconciliation (generation mismatch)"
  return hs
end

local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local function message(c)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.message end
  return nil
end

-- A BLUE_GREEN, LINEAR or CANARY deployment under way: Suspended while a PAUSE hook awaits
-- action, Progressing through its stages and bake times.
local current = (status.serviceDeployments or {})[1]
if current ~= nil and current.lifecycle ~= nil then
  local state = current.lifecycle.status
  if state == "PENDING" or state == "IN_PROGRESS" or state == "ROLLBACK_IN_PROGRESS" then
    if current.awaitingAction ~= nil then
      hs.status = "Suspended"
      hs.message = "(deployment " .. current.serviceDeploymentId .. ") hook " .. current.awaitingAction ..
        " at " .. (current.lifecycle.stage or "") .. " awaits action (annotation berth.dev/continue-deployment)"
      return hs
    end
    hs.message = "(deployment " .. current.serviceDeploymentId .. ") " .. state .. " at " .. (current.lifecycle.stage or "") ..
      " from " .. (current.sourceTaskDefinition or "") .. " to " .. current.targetTaskDefinition
    return hs
  end
end

-- A rollout the circuit breaker failed: say why, in ECS wording.
if status.rolloutState == "FAILED" then
  hs.status = "Degraded"
  hs.message = message(conditions.Degraded) or "Deployment failed"
  for _, d in ipairs(status.deployments or {}) do
    if d.status == "PRIMARY" and d.rolloutStateReason ~= nil then
      hs.message = d.rolloutStateReason
    end
  end
  return hs
end
local degraded = conditions.Degraded
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = message(degraded) or degraded.reason
  return hs
end
local ready = conditions.Ready
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message(ready) or ("(service " .. obj.metadata.name .. ") has reached a steady state.")
  return hs
end
hs.message = message(ready) or message(conditions.Progressing) or "Waiting for steady state"
return hs
