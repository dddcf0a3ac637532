-- Argo CD health of a berth.dev TaskDefinition. Uses only the base and table
-- libraries: Argo CD opens no others for argocd-cm scripts. Unsupported
-- fields are informational and never make it Degraded.
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

for _, c in ipairs(status.conditions or {}) do
  if c.type == "Ready" and c.status == "True" then
    hs.status = "Healthy"
    hs.message = c.message or ""
  end
end
if hs.status ~= "Healthy" then
  hs.message = "Waiting for revision to be registered"
  return hs
end
local unsupported = #(status.unsupportedFields or {})
if unsupported == 1 then
  hs.message = hs.message .. "; 1 field accepted but not acted on"
elseif unsupported > 1 then
  hs.message = hs.message .. "; " .. unsupported .. " fields accepted but not acted on"
end
return hs
