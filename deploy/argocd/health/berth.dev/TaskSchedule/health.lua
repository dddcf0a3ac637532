-- Argo CD health of a berth.dev TaskSchedule. Uses only the base and table
-- libraries: Argo CD opens no others for argocd-cm scripts.
local hs = {status = "Progressing", message = "Waiting for controller"}
if obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Pending deletion"
  return hs
end
-- A disabled schedule is paused by its owner: Suspended, as a suspended CronJob.
if obj.spec ~= nil and obj.spec.state == "DISABLED" then
  hs.status = "Suspended"
  hs.message = "state is DISABLED"
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

-- The schedule cannot start its tasks (invalid expression, task definition
-- unavailable) or an invocation is failing and being retried.
local degraded = conditions.Degraded
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = message(degraded) or degraded.reason
  return hs
end
-- Scheduled (waiting for its next time) or Completed (no more times).
local ready = conditions.Ready
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message(ready) or ready.reason
  return hs
end
hs.message = message(ready) or "Waiting for the schedule"
return hs
