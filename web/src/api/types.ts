// Types of the sluice REST API, written from server/openapi.yaml (the
// contract). Field names are the API's own, snake_case, so that a reader can
// match them to the document; src/api/contract.test.ts checks the routes.

export type Role = 'viewer' | 'operator' | 'admin'

export type ErrorCode =
  | 'bad_request'
  | 'invalid_argument'
  | 'connection_failed'
  | 'unauthenticated'
  | 'csrf_failed'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'internal'
  | 'unavailable'

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string }
}

export interface Health {
  status: 'ok' | 'unavailable'
  node: string
  error?: string
}

export interface User {
  id: number
  username: string
  role: Role
  disabled: boolean
  last_login_at?: string | null
  created_at: string
  updated_at?: string
}

export interface UserCreate {
  username: string
  password: string
  role: Role
}

export interface UserUpdate {
  role?: Role
  password?: string
  disabled?: boolean
}

export interface Me {
  user: User
  role: Role
  auth: 'session' | 'token'
  csrf_token?: string
  session_expires_at?: string
}

export interface LoginRequest {
  username: string
  password: string
}

export interface PasswordChange {
  current_password: string
  new_password: string
}

export interface Token {
  id: number
  name: string
  user_id: number
  username: string
  role: Role
  prefix: string
  expires_at?: string | null
  last_used_at?: string | null
  created_at: string
}

export interface TokenCreate {
  name: string
  role?: Role
  expires_in?: string
}

export interface TokenCreated extends Token {
  token: string
}

export interface DataSource {
  name: string
  kind: 'mysql'
  host: string
  port: number
  user: string
  database: string
  params: string
  has_password: boolean
  created_at: string
  updated_at: string
}

export interface DataSourceInput {
  name: string
  kind?: 'mysql'
  host: string
  port?: number
  user?: string
  password?: string
  database?: string
  params?: string
}

export interface ConnectionTest {
  ok: true
  version: string
  server_id?: number
  binlog_format?: string
  binlog_row_image?: string
  gtid_mode?: string
  log_bin?: boolean
  latency_ms: number
  warnings?: string[]
}

export interface TableName {
  schema: string
  table: string
  rows?: number
}

export interface Position {
  file?: string
  pos?: number
  gtid?: string
}

export interface TableRule {
  source: string
  target?: string
  columns?: string[]
  exclude_columns?: string[]
  rename_columns?: Record<string, string>
}

export interface SkipRule {
  gtid?: string
  position?: string
}

export type Op = 'insert' | 'update' | 'delete' | 'ddl'

export interface PipelineConfig {
  from?: string
  snapshot?: 'auto' | 'none' | 'only'
  tables: TableRule[]
  exclude?: string[]
  ops?: Op[]
  ddl?: 'replicate' | 'skip'
  state_schema?: string
  server_id?: number
  heartbeat?: string
  apply?: {
    workers?: number
    max_group_rows?: number
    max_group_txns?: number
    foreign_key_checks?: boolean
  }
  skip?: SkipRule[]
  two_way?: Record<string, unknown>
}

export interface PipelineInput {
  name: string
  description?: string
  source: string
  target: string
  channel?: string
  config: PipelineConfig
  alert_lag_seconds?: number
  alert_lag_for?: string
}

export type PipelineState = 'stopped' | 'pending' | 'starting' | 'running' | 'retrying' | 'paused' | 'stopping'

export const pipelineStates: PipelineState[] = ['stopped', 'pending', 'starting', 'running', 'retrying', 'paused', 'stopping']

export interface PipelineStatus {
  name: string
  state: PipelineState
  node?: string
  position?: Position
  read_position?: Position
  lag_seconds: number
  rows_per_second: number
  txns_per_second: number
  rows_applied: number
  txns_applied: number
  ddls_applied?: number
  txns_skipped?: number
  restarts?: number
  error?: string
  error_time?: string | null
  started_at?: string | null
  last_commit_at?: string | null
  sampled_at?: string
}

export interface Pipeline {
  name: string
  description?: string
  source: string
  target: string
  channel?: string
  config: PipelineConfig
  alert_lag_seconds?: number
  alert_lag_for?: string
  desired_state: 'running' | 'stopped'
  status: PipelineStatus
  created_at: string
  updated_at: string
}

export interface ResetRequest {
  position?: string
  gtid?: string
  start?: 'now'
}

export interface SelectionPreviewRequest {
  source: string
  tables: TableRule[]
  exclude?: string[]
}

export interface SelectionPreview {
  tables: { source: string; target: string; columns?: string[] }[]
}

export type ChannelTopology = 'two-way' | 'star' | 'mesh'

export interface ChannelInput {
  name: string
  description?: string
  topology: ChannelTopology
  sites?: string[]
  pipelines?: string[]
}

export interface Channel {
  name: string
  description?: string
  topology: ChannelTopology
  sites: string[]
  pipelines: string[]
  created_at: string
  updated_at: string
}

export interface TopologyNode {
  id: string
  host?: string
  hub?: boolean
}

export interface TopologyEdge {
  pipeline: string
  source: string
  target: string
  state: PipelineState
  lag_seconds?: number
  rows_per_second?: number
}

export interface Topology {
  channel: string
  topology: ChannelTopology
  nodes: TopologyNode[]
  edges: TopologyEdge[]
}

export type TargetPosition = 'auto' | 'pipeline' | 'replica' | 'none'

export interface CheckRequest {
  source: string
  target: string
  tables: string[]
  map?: string[]
  exclude_columns?: string[]
  target_position?: TargetPosition
  pipeline?: string
  max_rows_per_second?: number
  chunk_time?: string
  repair?: '' | 'apply'
}

export type CheckStatus = 'running' | 'equal' | 'different' | 'failed'

export interface Difference {
  type: 'missing' | 'extra' | 'different'
  key: Record<string, string>
  columns?: string[]
  source?: Record<string, string | null>
  target?: Record<string, string | null>
}

export interface CheckTableReport {
  source?: string
  target?: string
  key_columns?: string[]
  rows?: number
  chunks?: number
  missing?: number
  extra?: number
  different?: number
  unsettled?: number
  keyless?: boolean
  warnings?: string[]
  error?: string
  repaired?: number
  repair_skipped?: number
  elapsed_seconds?: number
  differences?: Difference[]
}

export interface CheckReport {
  source?: string
  target?: string
  started?: string
  elapsed_seconds?: number
  target_position?: string
  rows?: number
  missing?: number
  extra?: number
  different?: number
  unsettled?: number
  warnings?: string[]
  tables?: CheckTableReport[]
}

export interface Check {
  id: number
  status: CheckStatus
  request: CheckRequest
  created_by?: string
  repair_of?: number | null
  error?: string
  rows?: number
  missing?: number
  extra?: number
  different?: number
  unsettled?: number
  repaired?: number
  has_repair_sql?: boolean
  started_at?: string
  finished_at?: string | null
  created_at: string
  report?: CheckReport
}

export type JobKind = 'http' | 'sql' | 'shell' | 'check'
export type MisfirePolicy = 'skip' | 'fire_once' | 'catch_up'
export type OverlapPolicy = 'allow' | 'forbid' | 'replace' | 'queue'

export interface JobInput {
  name: string
  description?: string
  schedule: string
  time_zone?: string
  kind: JobKind
  config?: Record<string, unknown>
  paused?: boolean
  misfire_policy?: MisfirePolicy
  misfire_catch_up?: number
  misfire_threshold?: string
  overlap_policy?: OverlapPolicy
  max_retries?: number
  retry_backoff?: string
  timeout?: string
  alert_url?: string
}

export type RunStatus =
  | 'claimed'
  | 'running'
  | 'queued'
  | 'retrying'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'cancelled'
  | 'skipped'
  | 'missed'

export interface Run {
  id: number
  job_id: number
  job?: string
  scheduled_time: string
  node?: string
  status: RunStatus
  attempt: number
  misfire?: boolean
  claimed_at?: string | null
  started_at?: string | null
  finished_at?: string | null
  duration_seconds?: number | null
  cancel_requested?: boolean
  output?: string
  error?: string
}

export interface Job {
  id: number
  name: string
  description?: string
  schedule: string
  time_zone: string
  kind: JobKind
  config: Record<string, unknown>
  paused: boolean
  misfire_policy: MisfirePolicy
  misfire_catch_up?: number
  misfire_threshold?: string
  overlap_policy: OverlapPolicy
  max_retries?: number
  retry_backoff?: string
  timeout?: string
  alert_url?: string
  next_fire?: string | null
  last_run?: Run | null
  created_at: string
  updated_at: string
}

export interface SchedulePreviewRequest {
  schedule: string
  time_zone?: string
  count?: number
}

export interface NextFires {
  fires: string[]
}

export interface AlertSettings {
  webhook_url?: string
  lag_seconds?: number
  lag_for?: string
  pipeline_paused?: boolean
  check_differences?: boolean
}

export interface ServerNode {
  id: string
  host?: string
  version?: string
  state: string
  started_at?: string
  heartbeat_at?: string
  pipelines?: string[]
}

export type StreamEventType = 'pipeline.status' | 'pipeline.state' | 'job.run' | 'check.finished'

export interface StreamEvent {
  type: StreamEventType
  time: string
  pipeline?: PipelineStatus
  run?: Run
  check?: Check
}
