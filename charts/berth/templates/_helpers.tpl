{{/*
The chart name, or nameOverride.
*/}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
"<release>-<chart>" (just the release name when it already contains the
chart name), or fullnameOverride; 63 characters at most, the limit of a label
value and of a Service name.
*/}}
{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The name of cluster-scoped objects (ClusterRoles, ClusterRoleBindings). It
carries the release namespace too: releases of the same name in two namespaces
(namespace mode, one operator per team) must not fight over one ClusterRole.
*/}}
{{- define "berth.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "berth.fullname" .) }}
{{- end }}

{{- define "berth.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object the chart creates. `helm uninstall` and the tests find
a release's objects by app.kubernetes.io/instance.
*/}}
{{- define "berth.labels" -}}
helm.sh/chart: {{ include "berth.chart" . }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that pick the operator's pods (Deployment, Service, PDB). They never
change across upgrades: a Deployment's selector is immutable.
*/}}
{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Operator replicas: replicaCount, else 2 with leader election and 1 without.
Several replicas without leader election would all reconcile and start the
same tasks twice, so that is refused.
*/}}
{{- define "berth.replicas" -}}
{{- $replicas := .Values.replicaCount | default (ternary 2 1 .Values.leaderElection.enabled) | int }}
{{- if and (gt $replicas 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without it every replica would reconcile and start duplicate tasks" }}
{{- end }}
{{- $replicas }}
{{- end }}

{{/*
The namespace watched in namespace mode (empty in cluster mode).
*/}}
{{- define "berth.watchNamespace" -}}
{{- if .Values.namespaceMode.enabled }}
{{- default .Release.Namespace .Values.namespaceMode.namespace }}
{{- end }}
{{- end }}

{{/*
The Lease the replicas elect a leader on, in the release namespace.
*/}}
{{- define "berth.leaseName" -}}
{{- include "berth.fullname" . }}-leader
{{- end }}
