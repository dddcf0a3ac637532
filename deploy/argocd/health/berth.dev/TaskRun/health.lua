-- Argo CD health of a berth.dev TaskRun. Uses only the base and table
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

-- A task failed to start or exited non-zero: the run will not recover.
local degraded = conditions.Degraded
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = message(degraded) or degraded.reason
  return hs
end
-- Ready means every task has stopped.
local ready = conditions.Ready
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message(ready) or "All tasks stopped"
  return hs
end
hs.message = message(conditions.Progressing) or message(ready) or "Waiting for tasks"
return hs
