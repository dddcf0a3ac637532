{{/*
What berth-operator does to namespaced objects (operator/src/controller).
Cluster mode grants these in a ClusterRole, namespace mode in a Role in the
watched namespace.
*/}}
{{- define "berth.namespacedRules" -}}
# The user's TaskDefinitions, Services, TaskRuns and TaskSchedules: the
# controllers watch them into caches and read them; the operator never writes
# their spec (users scale Services through services/scale themselves).
- apiGroups: ["berth.dev"]
  resources: ["taskdefinitions", "services", "taskruns", "taskschedules"]
  verbs: ["get", "list", "watch"]
# Their status: written only by server-side apply (a PATCH) on the status
# subresource, never created or replaced.
- apiGroups: ["berth.dev"]
  resources: ["taskdefinitions/status", "services/status", "taskruns/status", "taskschedules/status"]
  verbs: ["patch"]
# A TaskSchedule starts a TaskRun per scheduled time and deletes the finished
# ones beyond its history; it is deleted by the operator itself only when it
# says so (actionAfterCompletion: DELETE, as EventBridge Scheduler does).
- apiGroups: ["berth.dev"]
  resources: ["taskruns"]
  verbs: ["create", "delete"]
- apiGroups: ["berth.dev"]
  resources: ["taskschedules"]
  verbs: ["delete"]
# Tasks are pods: watched into the shared cache, created by Services and
# TaskRuns, annotated with the stop code by a merge patch just before they
# are deleted (stopped or scaled in).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Task definition revisions are ControllerRevisions: immutable, so created
# but never updated; old ones go with their TaskDefinition through owner
# references (garbage collector), not by the operator.
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["get", "list", "watch", "create"]
# Kubernetes Services for a Service's loadBalancers, serviceRegistries and
# Service Connect aliases: cached (list/watch, labelled by Berth), written by
# server-side apply (a PATCH, which the API server authorizes as create when
# the Service does not exist yet), deleted when their entry goes away. Never
# updated with PUT.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# Gateway API HTTPRoutes giving a BLUE_GREEN, LINEAR or CANARY service's
# revisions their exact production weights (where the cluster serves them):
# listed by the service's label, written by server-side apply, deleted when
# no longer wanted. Not watched.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["list", "create", "patch", "delete"]
# Their EndpointSlices, read only: a draining task's pod is deleted only once
# no EndpointSlice lists it.
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["list", "watch"]
# The ServiceAccounts of task roles (a task runs as the one named after its
# role): Berth reads one by name before making it, caches those it made
# (labelled), creates them, patches their owners and role annotation, and
# deletes one no task definition uses any more. It never changes one it did
# not make.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Events on the user's objects, in their namespace. kube's Recorder creates an
# event and patches it to count repeats into a series.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
What berth-operator does to cluster-scoped objects. Only a ClusterRole can
grant access to a cluster-scoped resource (a Role's rules name resources of
its own namespace), so namespace mode keeps these in a small ClusterRole,
read-only but for the CapacityProviders' status.
*/}}
{{- define "berth.clusterRules" -}}
# Nodes: placement spreads tasks by zone and replaces tasks stranded on
# NotReady or deleted nodes, so the operator caches every node. Read only.
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
# CapacityProviders (cluster-scoped) name the node pools tasks are placed on.
- apiGroups: ["berth.dev"]
  resources: ["capacityproviders"]
  verbs: ["get", "list", "watch"]
# Their status (Ready, matching nodes): server-side apply on the subresource.
- apiGroups: ["berth.dev"]
  resources: ["capacityproviders/status"]
  verbs: ["patch"]
# At start the operator waits until Berth's own CRDs are Established; it reads
# them by name and nothing else (never creates or changes a CRD).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  resourceNames:
    - taskdefinitions.berth.dev
    - services.berth.dev
    - taskruns.berth.dev
    - taskschedules.berth.dev
    - capacityproviders.berth.dev
  verbs: ["get"]
{{- end }}
