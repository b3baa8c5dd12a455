{{/* Names. Object names are <fullname>[-component]; fullname fits in 40 characters (schema). */}}
{{- define "nnunet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "nnunet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nnunet.earlyStopName" -}}{{ include "nnunet.fullname" . }}-early-stop{{- end -}}
{{- define "nnunet.natsName" -}}{{ include "nnunet.fullname" . }}-nats{{- end -}}
{{- define "nnunet.webhookServiceName" -}}{{ include "nnunet.fullname" . }}-webhook{{- end -}}
{{- define "nnunet.webhookSecretName" -}}{{ include "nnunet.fullname" . }}-webhook-tls{{- end -}}
{{- define "nnunet.operatorMetricsService" -}}{{ include "nnunet.fullname" . }}-metrics{{- end -}}
{{- define "nnunet.earlyStopMetricsService" -}}{{ include "nnunet.earlyStopName" . }}-metrics{{- end -}}

{{/* Labels on every object. */}}
{{- define "nnunet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "nnunet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nnunet-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "operator"). */}}
{{- define "nnunet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nnunet.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "nnunet.componentLabels" -}}
{{ include "nnunet.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference: (dict "ctx" $ "image" .Values.images.operator). */}}
{{- define "nnunet.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* The NATS URL the services and the reporter use. */}}
{{- define "nnunet.natsUrl" -}}
{{- if .Values.nats.embedded.enabled -}}
{{- printf "%s://%s.%s.svc:4222" (ternary "tls" "nats" .Values.nats.tls.enabled) (include "nnunet.natsName" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.url is required when nats.embedded.enabled is false" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* Restricted pod security (Pod Security Standards "restricted"). */}}
{{- define "nnunet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "nnunet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Default affinity: spread replicas of a component over nodes, preferred. */}}
{{- define "nnunet.affinity" -}}
{{- if .affinity -}}
{{ toYaml .affinity }}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "nnunet.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- end -}}
{{- end -}}

{{/* The Secret with the NATS auth material (nats.auth): the user's, or the one the hook Job generates. */}}
{{- define "nnunet.natsAuthSecret" -}}
{{- default (printf "%s-nats-auth" (include "nnunet.fullname" .)) .Values.nats.auth.existingSecret -}}
{{- end -}}

{{/*
A volume with some keys of the NATS auth Secret and, with TLS, the CA: each pod mounts only
what it needs (nats-server auth.conf, the operator its user and the signing key, early-stop
its user). dict: ctx, name, keys.
*/}}
{{- define "nnunet.natsAuthVolume" -}}
- name: {{ .name }}
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "nnunet.natsAuthSecret" .ctx }}
          items:
            {{- range .keys }}
            - {key: {{ . }}, path: {{ . }}}
            {{- end }}
      {{- if .ctx.Values.nats.tls.enabled }}
      - secret:
          name: {{ .ctx.Values.nats.tls.secretName }}
          items:
            - {key: ca.crt, path: ca.crt}
      {{- end }}
{{- end -}}

{{/* The NATS credentials volume, when a Secret is configured. */}}
{{- define "nnunet.natsCredsVolume" -}}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credsSecret.name }}
    items:
      - key: {{ .Values.nats.credsSecret.key }}
        path: nats.creds
{{- end -}}

{{/*
The operator's rules on what lives in a run's namespace: in its ClusterRole, or with
watchNamespaces in a Role in each watched namespace (rbac-operator.yaml).
*/}}
{{- define "nnunet.operatorRunRules" -}}
- apiGroups: [nnunet-operator.io]
  resources: [trainingruns]
  verbs: [get, list, watch, update, patch]
- apiGroups: [nnunet-operator.io]
  resources: [trainingruns/status]
  verbs: [get, update, patch]
- apiGroups: [nnunet-operator.io]
  resources: [trainingruns/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete, patch]
{{- if .Values.nats.auth.enabled }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
{{- end }}
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* early-stop's rules on what lives in a run's namespace (rbac-early-stop.yaml). */}}
{{- define "nnunet.earlyStopRunRules" -}}
- apiGroups: [nnunet-operator.io]
  resources: [trainingruns]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
