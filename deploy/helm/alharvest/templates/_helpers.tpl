{{/* Names and labels. */}}
{{- define "alharvest.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "alharvest.fullname" -}}
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

{{/* A stage's object name: (dict "root" $ "stage" "scorer"). */}}
{{- define "alharvest.stageName" -}}
{{- printf "%s-%s" (include "alharvest.fullname" .root | trunc 52 | trimSuffix "-") .stage }}
{{- end }}

{{- define "alharvest.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "alharvest.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: alharvest
{{- end }}

{{/* Selector labels of one stage: (dict "root" $ "stage" "scorer"). */}}
{{- define "alharvest.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alharvest.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .stage }}
{{- end }}

{{- define "alharvest.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "alharvest.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "alharvest.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The name the NATS chart gives this release's NATS (its nats.fullname, by the same rule). */}}
{{- define "alharvest.natsFullname" -}}
{{- $n := .Values.natscluster }}
{{- if $n.fullnameOverride }}
{{- $n.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "natscluster" $n.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The NATS URL the stages use. */}}
{{- define "alharvest.natsURL" -}}
{{- if .Values.nats.url }}
{{- .Values.nats.url }}
{{- else if .Values.nats.enabled }}
{{- printf "nats://%s.%s.svc:4222" (include "alharvest.natsFullname" .) .Release.Namespace }}
{{- else }}
{{- fail "nats.url is required: the NATS servers alharvest uses, e.g. nats://nats.nats.svc:4222 (or set nats.enabled=true to deploy the official NATS chart with this release)" }}
{{- end }}
{{- end }}

{{/*
host:port of the NATS monitoring endpoint KEDA reads. For this release's NATS it is the
headless Service: in a cluster the scaler asks the consumer's leader, at
<server name>.<endpoint host>, and the headless Service gives each server (named after its
pod) that DNS name.
*/}}
{{- define "alharvest.natsMonitoring" -}}
{{- if .Values.nats.monitoringEndpoint }}
{{- .Values.nats.monitoringEndpoint }}
{{- else if .Values.nats.enabled }}
{{- printf "%s-headless.%s.svc:8222" (include "alharvest.natsFullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The replica ceiling the Assemblyline quota allows. Every alharvest process calling the same
user shares one budget of concurrent calls (AL_SHARED_QUOTA), so replicas beyond it hold no
slot and only wait: a stage's maxReplicaCount defaults to the quota and may not exceed it.
*/}}
{{- define "alharvest.quotaCap" -}}
{{- $q := int .Values.assemblyline.quota }}
{{- if le $q 0 }}{{ $q = 10 }}{{ end }}
{{- $q }}
{{- end }}

{{/* maxReplicaCount of a scaled stage: (dict "root" $ "stage" "scorer"). */}}
{{- define "alharvest.maxReplicas" -}}
{{- $cap := int (include "alharvest.quotaCap" .root) }}
{{- $a := (index .root.Values .stage).autoscaling }}
{{- $max := $cap }}
{{- if not (kindIs "invalid" $a.maxReplicaCount) }}{{ if ne (toString $a.maxReplicaCount) "" }}{{ $max = int $a.maxReplicaCount }}{{ end }}{{ end }}
{{- if gt $max $cap }}
{{- fail (printf "%s.autoscaling.maxReplicaCount=%d exceeds the Assemblyline quota (%d): every replica shares the user's %d concurrent calls, so the extra ones would only wait. Raise assemblyline.quota if the user's quota is higher." .stage $max $cap $cap) }}
{{- end }}
{{- if lt $max (int $a.minReplicaCount) }}
{{- fail (printf "%s.autoscaling.maxReplicaCount=%d is below minReplicaCount=%d" .stage $max (int $a.minReplicaCount)) }}
{{- end }}
{{- $max }}
{{- end }}

{{/*
GOMEMLIMIT in bytes: goMemLimitPercent of a memory limit such as 512Mi, 1Gi or 800M.
*/}}
{{- define "alharvest.goMemLimit" -}}
{{- $q := toString (required "every stage needs resources.limits.memory: GOMEMLIMIT is derived from it" .limit) }}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $n := regexFind "^[0-9]+" $q }}
{{- $u := trimPrefix $n $q }}
{{- if or (eq $n "") (not (hasKey $units $u)) }}
{{- fail (printf "memory limit %q: want an integer with an optional unit Ki, Mi, Gi, Ti, k, M, G or T" $q) }}
{{- end }}
{{- div (mul (int64 $n) (get $units $u) (int64 .percent)) 100 }}
{{- end }}

{{/* Environment every stage reads: (dict "root" $ "stage" "scorer" "port" 9102). */}}
{{- define "alharvest.commonEnv" -}}
{{- $v := .root.Values }}
- name: AL_URL
  value: {{ required "assemblyline.url is required: the Assemblyline base URL, e.g. https://al.example.org" $v.assemblyline.url | quote }}
- name: AL_USER
  value: {{ required "assemblyline.user is required: the Assemblyline user the API key belongs to" $v.assemblyline.user | quote }}
- name: AL_APIKEY_FILE
  value: /var/run/secrets/alharvest/assemblyline/{{ $v.assemblyline.existingSecretKey }}
- name: AL_VERIFY
  value: {{ $v.assemblyline.verifyTLS | quote }}
{{- if $v.assemblyline.caConfigMap }}
- name: AL_CA_FILE
  value: /etc/alharvest/assemblyline-ca/{{ $v.assemblyline.caConfigMapKey }}
{{- end }}
{{- if gt (int $v.assemblyline.quota) 0 }}
- name: AL_QUOTA
  value: {{ $v.assemblyline.quota | quote }}
{{- end }}
- name: NATS_URL
  value: {{ include "alharvest.natsURL" .root | quote }}
{{- $natsKey := include "alharvest.natsSecretKey" .root }}
{{- if eq $v.nats.auth "nkey" }}
- name: NATS_NKEY
  value: /var/run/secrets/alharvest/nats/nkey
{{- else if eq $v.nats.auth "creds" }}
- name: NATS_CREDS
  value: /var/run/secrets/alharvest/nats/creds
{{- else if eq $v.nats.auth "password" }}
- name: NATS_USER
  value: {{ required "nats.user is required with nats.auth=password" $v.nats.user | quote }}
- name: NATS_PASSWORD_FILE
  value: /var/run/secrets/alharvest/nats/password
{{- else if eq $v.nats.auth "token" }}
- name: NATS_TOKEN_FILE
  value: /var/run/secrets/alharvest/nats/token
{{- end }}
{{- if $v.nats.caConfigMap }}
- name: NATS_CA
  value: /etc/alharvest/nats-ca/{{ $v.nats.caConfigMapKey }}
{{- end }}
- name: NATS_REPLICAS
  value: {{ $v.nats.replicas | quote }}
- name: HTTP_ADDR
  value: {{ printf ":%d" (int .port) | quote }}
- name: LOG_FORMAT
  value: json
- name: LOG_LEVEL
  value: {{ $v.log.level | quote }}
- name: GOMEMLIMIT
  value: {{ include "alharvest.goMemLimit" (dict "limit" (index .root.Values .stage).resources.limits.memory "percent" $v.goMemLimitPercent) | quote }}
{{- end }}

{{/* The key the NATS Secret must hold for nats.auth. */}}
{{- define "alharvest.natsSecretKey" -}}
{{- $keys := dict "nkey" "nkey" "creds" "creds" "password" "password" "token" "token" }}
{{- if not (hasKey $keys .Values.nats.auth) }}
{{- fail (printf "nats.auth=%q: want nkey, creds, password or token" .Values.nats.auth) }}
{{- end }}
{{- get $keys .Values.nats.auth }}
{{- end }}

{{/* Volumes every stage mounts: the Secrets it was given, CA bundles, /tmp. */}}
{{- define "alharvest.commonVolumes" -}}
{{- $v := .Values }}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
- name: assemblyline
  secret:
    secretName: {{ required "assemblyline.existingSecret is required: the name of a Secret holding the Assemblyline API key as <key_name>:<password> (key assemblyline.existingSecretKey, default apikey). The chart never creates it." $v.assemblyline.existingSecret | quote }}
    defaultMode: 0440
    items:
      - key: {{ $v.assemblyline.existingSecretKey }}
        path: {{ $v.assemblyline.existingSecretKey }}
- name: nats
  secret:
    secretName: {{ required "nats.existingSecret is required: the name of a Secret holding the stages' NATS credentials (nats.auth says which key: nkey, creds, password or token). The chart never creates it." $v.nats.existingSecret | quote }}
    defaultMode: 0440
    items:
      - key: {{ include "alharvest.natsSecretKey" . }}
        path: {{ include "alharvest.natsSecretKey" . }}
{{- if $v.assemblyline.caConfigMap }}
- name: assemblyline-ca
  configMap:
    name: {{ $v.assemblyline.caConfigMap | quote }}
{{- end }}
{{- if $v.nats.caConfigMap }}
- name: nats-ca
  configMap:
    name: {{ $v.nats.caConfigMap | quote }}
{{- end }}
{{- end }}

{{- define "alharvest.commonMounts" -}}
{{- $v := .Values }}
- name: tmp
  mountPath: /tmp
- name: assemblyline
  mountPath: /var/run/secrets/alharvest/assemblyline
  readOnly: true
- name: nats
  mountPath: /var/run/secrets/alharvest/nats
  readOnly: true
{{- if $v.assemblyline.caConfigMap }}
- name: assemblyline-ca
  mountPath: /etc/alharvest/assemblyline-ca
  readOnly: true
{{- end }}
{{- if $v.nats.caConfigMap }}
- name: nats-ca
  mountPath: /etc/alharvest/nats-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* Probes on the stage's HTTP_ADDR. */}}
{{- define "alharvest.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 24
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{/* The pod spec fields every stage shares: (dict "root" $ "stage" "scorer"). */}}
{{- define "alharvest.podCommon" -}}
{{- $v := .root.Values }}
{{- $s := index $v .stage }}
serviceAccountName: {{ include "alharvest.serviceAccountName" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $s.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $s.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $s.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
What the feeder and the reader may do on NATS, subject by subject: the same lists the
compose deployment's secrets step writes into nats-server.conf (a test compares them).
The feeder publishes SIDs and receives each publish's JetStream acknowledgement on its
inbox. The reader looks up ALHARVEST_COLLECTED, creates and looks up its own durable
consumers there, pulls, acknowledges what it pulled, dead-letters under stage feed, and
receives every answer on its inbox: no other publish, no stream or consumer deletion.
*/}}
{{- define "alharvest.identityPermissions" -}}
feeder:
  publish:
    allow:
      - alharvest.sids
  subscribe:
    allow:
      - _INBOX.>
reader:
  publish:
    allow:
      - $JS.API.STREAM.INFO.ALHARVEST_COLLECTED
      - $JS.API.CONSUMER.CREATE.ALHARVEST_COLLECTED.>
      - $JS.API.CONSUMER.DURABLE.CREATE.ALHARVEST_COLLECTED.*
      - $JS.API.CONSUMER.INFO.ALHARVEST_COLLECTED.*
      - $JS.API.CONSUMER.MSG.NEXT.ALHARVEST_COLLECTED.*
      - $JS.ACK.ALHARVEST_COLLECTED.>
      - alharvest.dlq.feed
  subscribe:
    allow:
      - _INBOX.>
{{- end }}

{{/*
The NATS authorization.users entries of the identities whose public key is set, as a YAML
list: what natscluster.config.merge.authorization.users must hold besides the stages' user,
and what an external NATS's configuration needs (NATS reads this as JSON too).
*/}}
{{- define "alharvest.identityUsers" -}}
{{- $perms := include "alharvest.identityPermissions" . | fromYaml }}
{{- $users := list }}
{{- range $id := list "feeder" "reader" }}
{{- with (index $.Values.identities $id).publicKey }}
{{- $users = append $users (dict "nkey" . "permissions" (get $perms $id)) }}
{{- end }}
{{- end }}
{{- if $users }}
{{- toYaml $users }}
{{- end }}
{{- end }}
