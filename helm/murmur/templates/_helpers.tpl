{{/* The chart's standard helpers. */}}
{{- define "murmur.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "murmur.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "murmur.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "murmur.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "murmur.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels for one component: include "murmur.labels" (list . "api") */}}
{{- define "murmur.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "murmur.chart" $root }}
{{ include "murmur.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: murmur
{{- end }}

{{- define "murmur.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "murmur.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "murmur.componentName" -}}
{{- printf "%s-%s" (include "murmur.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "murmur.image" -}}
{{- printf "%s:%s" .repository (toString .tag) }}
{{- end }}

{{- define "murmur.cloud" -}}
{{- if eq .Values.profile "cloud" }}true{{ end }}
{{- end }}

{{/* Pod and container security: non-root, read-only root, nothing to escalate. */}}
{{- define "murmur.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "murmur.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The environment every Murmur process shares: the ConfigMap, the secrets, the pod's name. */}}
{{- define "murmur.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if .Values.existingSecret }}
- name: MURMUR_MONGO__URI
  valueFrom:
    secretKeyRef: {name: {{ .Values.existingSecret }}, key: mongo-uri, optional: true}
- name: MURMUR_REDIS__AUTH_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.existingSecret }}, key: redis-auth-token, optional: true}
{{- end }}
{{- end }}

{{/* Proxies that append to X-Forwarded-For in front of the API: as set, else 1 with the ALB Ingress and 0 without. */}}
{{- define "murmur.trustedProxies" -}}
{{- if kindIs "invalid" .Values.api.trustedProxies -}}
{{- ternary 1 0 .Values.api.ingress.enabled -}}
{{- else -}}
{{- .Values.api.trustedProxies -}}
{{- end -}}
{{- end }}
